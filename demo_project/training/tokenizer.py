"""A small word-level tokenizer for the mini CLIP, trained on the catalog's own copy.

Shop copy has a few hundred distinct words, so whole words beat sub-words here: shorter
sequences, and no word split across tokens for a tiny model to glue back together.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
# Fixed ids; EOS must not be 2, which CLIPTextTransformer treats as the legacy "argmax" pooling.
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
EOS_ID = SPECIAL_TOKENS.index(EOS)
BOS_ID = SPECIAL_TOKENS.index(BOS)
PAD_ID = SPECIAL_TOKENS.index(PAD)


def build_word_tokenizer(texts: Iterable[str], max_length: int) -> PreTrainedTokenizerFast:
    """Train a lower-casing word-level tokenizer on ``texts``.

    Every encoding is ``[BOS] words... [EOS]``, truncated to ``max_length`` tokens (EOS kept,
    because CLIP pools the text at its first EOS).  Unknown words become ``[UNK]``.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS)))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, BOS_ID), (EOS, EOS_ID)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=max_length,
    )

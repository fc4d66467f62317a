"""Metrics, the contrastive trainer, the bundled shop-clip-mini and fine-tuning (no database)."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from demo_project.training.synthetic import HELD_OUT_PAIRS, generate_catalog, make_product, query_for  # noqa: E402
from shop_clip.training.augmentation import augment_pixels  # noqa: E402
from shop_clip.training.contrastive import (  # noqa: E402
    UNNAMED,
    clip_loss,
    label_matches,
    same_text_matches,
    view_loss,
)
from shop_clip.training.evaluation import (  # noqa: E402
    attribute_grades,
    attribute_ranking_quality,
    graded_relevance,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

MINI = Path(__file__).resolve().parent.parent / "shop_clip" / "pretrained" / "shop-clip-mini"


# -- evaluation metrics -------------------------------------------------------------------------

def test_precision_at_k_counts_relevant_results_in_the_first_k():
    assert precision_at_k([1, 0, 1, 1, 0], 4) == 0.75
    assert precision_at_k([1, 1], 4) == 0.5  # missing ranks are misses
    with pytest.raises(ValueError):
        precision_at_k([1], 0)


def test_recall_at_k():
    assert recall_at_k([0, 1, 0, 1], 2) == 0.5
    assert recall_at_k([0, 1], 2, total_relevant=4) == 0.25
    assert recall_at_k([0, 0], 2) == 0.0


def test_ndcg_is_one_for_the_ideal_order_and_lower_otherwise():
    assert ndcg_at_k([3, 2, 1, 0], 4) == pytest.approx(1.0)
    worse = ndcg_at_k([0, 1, 2, 3], 4)
    assert 0 < worse < 1
    # Against the whole catalog, a perfect-looking prefix can still miss better items.
    assert ndcg_at_k([1, 1], 2, ideal=[3, 1, 1, 0]) < 1
    assert ndcg_at_k([0, 0], 2) == 0.0
    expected = (2 ** 3 - 1) / math.log2(2)
    assert ndcg_at_k([3], 1) == pytest.approx(expected / expected)


def test_graded_relevance_gives_partial_credit_within_the_category():
    query = {"category": "t-shirt", "colour": "red", "pattern": "striped"}
    assert graded_relevance(query, {"category": "t-shirt", "colour": "red", "pattern": "striped"}) == 3
    assert graded_relevance(query, {"category": "t-shirt", "colour": "red", "pattern": "solid"}) == 2
    assert graded_relevance(query, {"category": "t-shirt", "colour": "blue", "pattern": "solid"}) == 1
    assert graded_relevance(query, {"category": "mug", "colour": "red", "pattern": "striped"}) == 0
    assert graded_relevance({"category": "mug"}, {"category": "mug", "colour": "red"}) == 1
    assert graded_relevance({"colour": "red"}, {"category": "mug", "colour": "red"}) == 1


def test_a_ranking_is_scored_by_the_attributes_its_query_names():
    """P@k counts results with every named attribute; nDCG grades the rest against the whole catalog."""
    query = {"colour": "red", "category": "mug"}
    red_mug, blue_mug, red_lamp = ({"category": "mug", "colour": "red"}, {"category": "mug", "colour": "blue"},
                                   {"category": "lamp", "colour": "red"})
    catalog = [red_mug, red_mug, blue_mug, red_lamp]
    ideal = attribute_grades(query, catalog)
    assert ideal == [2, 2, 1, 0]
    assert attribute_ranking_quality(query, [red_mug, red_mug], ideal, 2) == (1.0, pytest.approx(1.0))
    precision, ndcg = attribute_ranking_quality(query, [blue_mug, red_lamp], ideal, 2)
    assert precision == 0.0 and 0 < ndcg < 1  # a mug of another colour still earns some gain
    # Missing ranks are misses; a material query is judged by material and category alone.
    assert attribute_ranking_quality({"material": "linen", "category": "dress"},
                                     [{"category": "dress", "material": "linen", "colour": "red"}], [2], 4)[0] == 0.25


# -- loss and augmentation ----------------------------------------------------------------------

def test_clip_loss_is_low_for_matching_embeddings_and_high_for_shuffled_ones():
    embeddings = torch.eye(8) * 5
    scale = torch.tensor(math.log(100.0))
    matched = clip_loss(embeddings, embeddings, scale)
    shuffled = clip_loss(embeddings, embeddings.roll(1, dims=0), scale)
    assert matched < 0.01 < shuffled


def test_identical_texts_in_a_batch_are_positives_for_each_other():
    ids = torch.tensor([[2, 5, 3], [2, 6, 3], [2, 5, 3]])
    assert same_text_matches(ids).tolist() == [[True, False, True], [False, True, False], [True, False, True]]


def test_a_text_fits_every_image_with_the_attributes_it_names():
    images = torch.tensor([[0, 1, 2], [0, 3, 2], [4, 1, 2]])  # (category, colour, pattern)
    texts = torch.tensor([[0, UNNAMED, UNNAMED], [0, 3, 2], [4, 1, UNNAMED]])  # "t-shirt", full, cat+colour
    assert label_matches(images, texts).tolist() == [[True, False, False], [True, True, False],
                                                     [False, False, True]]


def test_extra_positives_stop_penalising_look_alikes():
    """Two identical pairs: plain CLIP counts each as the other's negative; with look-alikes marked,
    the loss sits at its floor (the entropy of the spread targets, ln 2 for those rows)."""
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    texts = images.clone()
    scale = torch.tensor(math.log(100.0))
    look_alikes = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    floor = 2 * math.log(2) / 3  # mean target entropy over the three rows, each direction
    excess_with = clip_loss(images, texts, scale, look_alikes).item() - floor
    excess_plain = clip_loss(images, texts, scale).item()  # plain targets have zero entropy
    assert abs(excess_with) < 1e-3
    assert excess_plain > 0.4


def test_a_view_is_trained_towards_its_own_image_and_leaves_the_images_alone():
    images = torch.eye(4, requires_grad=True)
    views = torch.eye(4)[[2, 0]].clone().requires_grad_(True)  # views of images 2 and 0
    scale = torch.tensor(math.log(100.0))
    right = view_loss(views, images, scale, torch.tensor([2, 0]))
    wrong = view_loss(views, images, scale, torch.tensor([1, 3]))
    assert right < 0.01 < wrong
    wrong.backward()
    assert images.grad is None  # the catalog's photos are targets only
    assert views.grad.abs().sum() > 0
    # A second image with the same product's attributes shares the target.
    same = torch.tensor([[False, False, True, True], [True, False, False, False]])
    assert view_loss(views, images, scale, torch.tensor([2, 0]), same) > right + 0.3


def test_augmentation_keeps_shape_and_is_reproducible():
    pixels = torch.randn(4, 3, 16, 16)
    first = augment_pixels(pixels, torch.Generator().manual_seed(1))
    second = augment_pixels(pixels, torch.Generator().manual_seed(1))
    assert first.shape == pixels.shape
    assert torch.equal(first, second)
    assert not torch.equal(first, pixels)


def test_scene_augmentation_puts_a_share_of_the_batch_on_new_backdrops_and_repeats():
    from demo_project.training.scene_augmentation import SceneAugmentation

    products = list(generate_catalog(32, seed=3, image_size=32))
    raw = torch.stack([torch.from_numpy(np.asarray(p.image, dtype=np.float32) / 255).permute(2, 0, 1)
                       for p in products])
    mean, std = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)
    pixels = (raw - mean) / std
    masks = torch.from_numpy(np.stack([np.asarray(p.mask) for p in products])).unsqueeze(1)
    rows = torch.arange(32)
    augment = SceneAugmentation(masks, share=0.5, mean=(0.5,) * 3, std=(0.25,) * 3)
    first = augment(pixels, rows, torch.Generator().manual_seed(4))
    assert torch.equal(first, augment(pixels, rows, torch.Generator().manual_seed(4)))
    changed = [bool((first[i] - pixels[i]).abs().max() > 1e-3) for i in range(32)]
    assert 6 <= sum(changed) <= 26  # about half, the rest untouched
    after = first * std + mean
    assert after.min() >= -1e-5 and after.max() <= 1 + 1e-5  # still a photo's range
    # A scene's backdrop is no longer the studio's light grey: its corners changed for most.
    corners = [(after[i, :, :3, :3] - raw[i, :, :3, :3]).abs().mean() > 0.05 for i in range(32) if changed[i]]
    assert sum(corners) >= 0.6 * len(corners)
    assert torch.equal(SceneAugmentation(masks, share=0.0)(pixels, rows, torch.Generator()), pixels)
    # As views (train_mini --scene-views): the same scenes, beside the untouched batch, with their places.
    views, positions = augment.views(pixels, rows, torch.Generator().manual_seed(4))
    assert positions.tolist() == [i for i in range(32) if changed[i]]
    assert torch.allclose(views, first[positions])


# -- a short training run -----------------------------------------------------------------------

def test_short_training_lowers_the_loss_and_beats_an_untrained_model(tmp_path):
    from demo_project.training.look_alike_batches import LookAlikeBatches
    from demo_project.training.mini_data import build_training_pairs, tokenizer_corpus
    from demo_project.training.mini_model import MiniClipSize, build_mini_clip
    from demo_project.training.scene_augmentation import SceneAugmentation
    from demo_project.training.st_format import save_sentence_transformer
    from demo_project.training.tokenizer import build_word_tokenizer
    from shop_clip.training.retrieval import retrieval_metrics
    from shop_clip.training.training_loop import Schedule, train_contrastive

    torch.manual_seed(0)
    size = MiniClipSize(image_size=32, patch_size=8, vision_hidden=64, vision_layers=2, text_hidden=64,
                        text_layers=2, heads=2, max_text_length=32)
    tokenizer = build_word_tokenizer(tokenizer_corpus(0, copies=1), size.max_text_length)
    model, processor = build_mini_clip(tokenizer, size)
    save_sentence_transformer(model, processor, tmp_path / "untrained")

    pairs, attributes, masks = build_training_pairs(processor, 640, seed=0, image_size=64)
    assert masks.shape == (640, 1, 32, 32) and masks.dtype == torch.uint8
    log = train_contrastive(model, pairs, Schedule(epochs=12, batch_size=64, lr=2e-3), seed=0, progress=False,
                            image_mean=processor.image_processor.image_mean,
                            image_std=processor.image_processor.image_std,
                            batches=LookAlikeBatches(attributes, 64))
    assert log.mean_loss(last=10) < log.mean_loss(first=10) - 0.5
    save_sentence_transformer(model, processor, tmp_path / "trained")

    held_out = [(p.image, query_for(p.attributes, "colour_pattern_category"))
                for p in generate_catalog(60, seed=99, image_size=64, only_pairs=HELD_OUT_PAIRS)]
    before = retrieval_metrics(tmp_path / "untrained", held_out)
    after = retrieval_metrics(tmp_path / "trained", held_out)
    assert after["recall_at_10"] > before["recall_at_10"] + 0.15, (before, after)

    # A caller's augmentation (train_mini --scene-share) sees every batch's rows before training does.
    scenes = SceneAugmentation(masks, share=0.5, mean=processor.image_processor.image_mean,
                               std=processor.image_processor.image_std)
    seen = []

    def recording(pixels, rows, generator):
        seen.append(rows.clone())
        return scenes(pixels, rows, generator)

    more = train_contrastive(model, pairs, Schedule(epochs=1, batch_size=64, lr=1e-4), seed=0, progress=False,
                             batches=LookAlikeBatches(attributes, 64), augment=recording)
    assert len(seen) == more.steps > 0 and all(math.isfinite(loss) for loss in more.losses)
    rows = torch.cat(seen)
    assert rows.max() < len(pairs) and len(rows.unique()) > len(pairs) // 2  # the rows of the pairs trained on

    # Views (train_mini --scene-views) add scenes beside the batch, every step.
    viewed = []

    def recording_views(pixels, rows, generator):
        scenes_, positions = scenes.views(pixels, rows, generator)
        viewed.append(len(positions))
        return scenes_, positions

    with_views = train_contrastive(model, pairs, Schedule(epochs=1, batch_size=64, lr=1e-4), seed=0,
                                   progress=False, batches=LookAlikeBatches(attributes, 64), views=recording_views)
    assert len(viewed) == with_views.steps and sum(viewed) > 0
    assert all(math.isfinite(loss) for loss in with_views.losses)


def test_train_mini_command_writes_a_loadable_model_and_is_reproducible(tmp_path):
    from sentence_transformers import SentenceTransformer

    from demo_project.training.train_mini import main

    def weights(name: str, *extra: str) -> bytes:
        main(["--output", str(tmp_path / name), "--products", "48", "--epochs", "2", "--skip-eval",
              "--region-scenes", "6", "--region-epochs", "1", *extra])
        return (tmp_path / name / "model.safetensors").read_bytes()

    first = weights("first")
    vectors = SentenceTransformer(str(tmp_path / "first"), device="cpu").encode(["red mug"])
    assert vectors.shape == (1, 512)
    tower = tmp_path / "first" / "look_regions" / "model.safetensors"  # shop the look's region tower
    assert SentenceTransformer(str(tower.parent), device="cpu").encode(["red mug"]).shape == (1, 512)
    # The same command gives the same bytes (how the bundled model can be rebuilt and checked) ...
    assert weights("again") == first
    assert (tmp_path / "again" / "look_regions" / "model.safetensors").read_bytes() == tower.read_bytes()
    # ... and the seed is what decides them.
    assert weights("other-seed", "--seed", "1") != first


# -- the bundled model --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mini():
    from sentence_transformers import SentenceTransformer

    if not (MINI / "modules.json").exists():
        pytest.fail(f"the bundled model is missing: train it with "
                    f"python -m demo_project.training.train_mini --output {MINI}")
    return SentenceTransformer(str(MINI), device="cpu")


def test_bundled_model_is_small_and_commit_ready():
    files = [path for path in MINI.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) <= 25 * 1024 * 1024
    assert any(path.suffix == ".safetensors" for path in files)
    assert not any(path.suffix in {".bin", ".pt", ".pth", ".ckpt"} for path in files)


def test_bundled_model_gives_512_d_vectors_for_texts_and_images(mini):
    image = next(generate_catalog(1, seed=5)).image
    assert mini.encode(["red striped t-shirt"]).shape == (1, 512)
    assert mini.encode([image]).shape == (1, 512)


def test_bundled_model_finds_the_category_a_shopper_asks_for(mini):
    rng = np.random.default_rng(11)
    categories = ["t-shirt", "sneaker", "handbag", "hat", "mug", "lamp"]
    products = [make_product({"category": slug, "colour": colour, "pattern": "solid", "material": material}, rng)
                for slug, colour, material in zip(categories, ["blue", "black", "brown", "green", "white", "red"],
                                                  ["cotton", "leather", "leather", "wool", "ceramic", "linen"],
                                                  strict=True)]
    images = mini.encode([p.image for p in products], normalize_embeddings=True)
    queries = mini.encode([query_for(p.attributes, "category") for p in products], normalize_embeddings=True)
    best = (queries @ images.T).argmax(axis=1)
    assert best.tolist() == list(range(len(categories)))


def test_the_bundled_model_reads_scene_regions_with_a_tower_of_its_own_and_keeps_its_id(tmp_path):
    from shop_clip.encoders.sentence_transformers import REGIONS_DIR, SentenceTransformerEncoder, local_model_id

    encoder = SentenceTransformerEncoder(str(MINI), device="cpu")
    image = next(generate_catalog(1, seed=5)).image
    regions = encoder.encode_regions([image])
    assert regions.shape == (1, 512) and np.linalg.norm(regions) == pytest.approx(1, abs=1e-4)
    assert not np.allclose(regions, encoder.encode_images([image]), atol=1e-3)  # another tower
    # The tower is not part of the catalog's space: the same model without it has the same id and
    # vectors (a new tower re-embeds nothing), and reads regions with its catalog tower.
    bare = tmp_path / MINI.name
    shutil.copytree(MINI, bare, ignore=shutil.ignore_patterns(REGIONS_DIR))
    without = SentenceTransformerEncoder(str(bare), device="cpu")
    assert without.encode_regions([image]) is None
    assert without.model_id == encoder.model_id == local_model_id(MINI)
    np.testing.assert_allclose(without.encode_images([image]), encoder.encode_images([image]), atol=1e-6)


def test_training_preprocessing_matches_sentence_transformers_encode(mini):
    from shop_clip.training.pairs import pixel_values_for, token_ids_for

    module = mini[0]
    image = next(generate_catalog(1, seed=6)).image
    with torch.no_grad():
        pixels = pixel_values_for(module.processor, [image])
        direct = module.model.get_image_features(pixel_values=pixels).pooler_output.numpy()
        ids, mask = token_ids_for(module.processor, ["plain red mug"])
        direct_text = module.model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output.numpy()
    np.testing.assert_allclose(mini.encode([image]), direct, atol=1e-5)
    np.testing.assert_allclose(mini.encode(["plain red mug"]), direct_text, atol=1e-5)


# -- fine-tuning --------------------------------------------------------------------------------

def test_finetune_runs_end_to_end_and_saves_a_loadable_model(tmp_path, mini):
    from sentence_transformers import SentenceTransformer

    from shop_clip.training.finetune import finetune

    products = list(generate_catalog(10, seed=12, image_size=64))
    pairs = [(p.image, p.title) for p in products]
    result = finetune(MINI, pairs[:8], tmp_path / "tuned", epochs=2, batch_size=4, lr=1e-4, seed=0,
                      device="cpu", progress=False, eval_pairs=pairs[8:])
    assert result["steps"] == 4
    assert set(result["before"]) == set(result["after"]) == {"recall_at_1", "recall_at_10"}
    tuned = SentenceTransformer(str(tmp_path / "tuned"), device="cpu")
    assert tuned.encode([products[0].image]).shape == (1, 512)
    assert not np.allclose(tuned.encode(["red mug"]), mini.encode(["red mug"]))


def test_a_region_tower_brings_scenes_home_and_leaves_the_catalog_space_alone():
    """train_look_regions: a copy of the image tower trained on scenes (here scene_augmentation's)."""
    from demo_project.training.mini_data import build_training_pairs
    from demo_project.training.region_tower import catalog_vectors, region_tower, train_region_tower
    from demo_project.training.scene_augmentation import SceneAugmentation
    from demo_project.training.st_format import load_clip_parts
    from shop_clip.encoders.sentence_transformers import BUNDLED
    from shop_clip.training.training_loop import Schedule

    model, processor = load_clip_parts(BUNDLED["shop-clip-mini"])
    pairs, _, masks = build_training_pairs(processor, 256, seed=3, image_size=64)
    mean, std = processor.image_processor.image_mean, processor.image_processor.image_std
    targets = catalog_vectors(model, pairs.pixel_values)
    scenes = SceneAugmentation(masks, share=1.0, mean=mean, std=std)

    def own_rank(tower):  # mean rank of each scene's own product among the 256, on fixed scenes
        views = scenes(pairs.pixel_values.float(), torch.arange(256), torch.Generator().manual_seed(9))
        vectors = catalog_vectors(tower, views)
        scores = vectors @ targets.T
        return float((scores > scores.diagonal()[:, None]).sum(dim=1).float().mean())

    tower = region_tower(model)
    before = own_rank(tower)
    log = train_region_tower(tower, pairs.pixel_values, targets, pairs.image_labels, scenes,
                             Schedule(epochs=8, batch_size=64, lr=1e-3), logit_scale=float(model.logit_scale.exp()),
                             image_mean=mean, image_std=std, progress=False)
    assert log.steps == 32 and log.mean_loss(last=4) < log.mean_loss(first=4)
    assert own_rank(tower) < 0.7 * before
    assert torch.equal(catalog_vectors(model, pairs.pixel_values), targets)  # the catalog's tower is untouched
    trained = dict(tower.named_parameters())
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, trained[name]) != name.startswith(("vision_model.", "visual_projection."))


def test_live_crops_are_the_regions_the_app_cuts_each_with_the_one_product_it_lies_on():
    from demo_project.training.live_crops import live_crops
    from demo_project.training.st_format import load_clip_parts
    from shop_clip.encoders.sentence_transformers import BUNDLED

    _, processor = load_clip_parts(BUNDLED["shop-clip-mini"])
    pixels, owners = live_crops(processor, 80, 0, 64, scenes=6, progress=False)
    assert pixels.shape[1:] == (3, 32, 32) and len(pixels) == len(owners) >= 6
    # Rows of the catalog's first products (six scenes of 2-4 take at most 24 of its 80), most found.
    assert owners.max() < 80 and 6 <= len(owners.unique()) <= 24
    again, _ = live_crops(processor, 80, 0, 64, scenes=6, progress=False)
    assert torch.equal(again, pixels)  # seeded: the same crops every run
    busy, _ = live_crops(processor, 80, 0, 64, scenes=6, kinds=("busy",), progress=False)
    assert not (len(busy) == len(pixels) and torch.equal(busy, pixels))  # the kinds decide the scenes
    with pytest.raises(ValueError, match="scene kinds must be some of flat_lay, collage, busy; got busy, tartan"):
        live_crops(processor, 80, 0, 64, scenes=6, kinds=("busy", "tartan"), progress=False)
    # The halves the app looks at beside a busy photo's largest blob: more crops, each still on one product.
    whole, _ = live_crops(processor, 80, 0, 64, scenes=6, kinds=("busy",), halved_blobs=0, progress=False)
    halved, halved_owners = live_crops(processor, 80, 0, 64, scenes=6, kinds=("busy",), halved_blobs=2, progress=False)
    assert len(halved) > len(whole)
    assert len(halved) == len(halved_owners) and halved_owners.max() < 80

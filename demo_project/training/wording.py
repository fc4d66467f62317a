"""Shop copy for a product (titles, descriptions) and the shopper queries used in evaluation.

Copy is varied on purpose (templates, colour and pattern synonyms, category synonyms), the
way real shops write; queries use the canonical words a shopper would type.
"""

from __future__ import annotations

import numpy as np

from .vocabulary import CATEGORY_BY_SLUG, COLOUR_BY_NAME, MATERIAL_PHRASES, PATTERN_BY_SLUG

QUERY_KINDS = ("colour_pattern_category", "colour_category", "pattern_category", "category")

_CARE = {
    "clothing": ("Machine washable at 30 degrees.", "True to size.", "Easy to care for."),
    "footwear": ("Rubber sole for all-day comfort.", "Cushioned insole.", "True to size."),
    "bags": ("Fits a tablet and everyday essentials.", "Inner zip pocket.", "Adjustable strap."),
    "accessories": ("A finishing touch for any outfit.", "Gift-ready.", "Made to last."),
    "home goods": ("Adds colour to any room.", "Wipe clean with a damp cloth.", "Makes a lovely gift."),
}
_OPENERS = ("Classic", "Everyday", "Timeless", "Modern", "Essential", "Elegant", "Statement", "Signature")

_TITLE_TEMPLATES = (
    "{Colour} {pattern} {material} {category}",
    "{Colour} {pattern} {category}",
    "{Opener} {colour} {pattern} {category}",
    "{Category} in {colour} {pattern_noun}",
    "{Material} {category} - {colour}, {pattern_label}",
    "{Opener} {feature} {category}, {colour}",
)
_DESCRIPTION_TEMPLATES = (
    "{Opener} {feature} {category} in {colour} {pattern_noun}, {material_phrase}. {care}",
    "This {colour} {pattern} {category} is made from {material_phrase}. {Feature} design. {care}",
    "A {feature} {category} in {material_phrase} with {pattern_noun_full}, in {colour}. {care}",
    "{Colour} {pattern} {category}. {Feature}, {material_phrase}. {care}",
)


def _pick(options, rng: np.random.Generator):
    return options[int(rng.integers(len(options)))]


def _tidy(text: str) -> str:
    """Collapse the double spaces an empty pattern adjective leaves, and capitalise."""
    text = " ".join(text.split()).replace(" ,", ",")
    return text[:1].upper() + text[1:]


def describe(attributes: dict, rng: np.random.Generator) -> tuple[str, str]:
    """Write shop copy for a product.

    ``attributes``: category (slug), colour (canonical name), pattern (slug), material.
    Returns ``(title, description)``; words are drawn from synonyms with ``rng``.
    """
    category = CATEGORY_BY_SLUG[attributes["category"]]
    pattern = PATTERN_BY_SLUG[attributes["pattern"]]
    colour_word = _pick(COLOUR_BY_NAME[attributes["colour"]].synonyms, rng)
    category_word = _pick(category.synonyms, rng)
    pattern_word = _pick(pattern.adjectives, rng)
    pattern_noun = _pick(pattern.nouns, rng)
    words = {
        "colour": colour_word, "Colour": colour_word.capitalize(),
        "category": category_word, "Category": category_word[:1].upper() + category_word[1:],
        "pattern": pattern_word,
        "pattern_label": pattern_word or "plain",
        # "in red stripes" reads well; "in red a solid finish" does not.
        "pattern_noun": pattern_noun if pattern.slug != "solid" else "",
        "pattern_noun_full": pattern_noun,
        "material": attributes["material"], "Material": attributes["material"].capitalize(),
        "material_phrase": _pick(MATERIAL_PHRASES[attributes["material"]], rng),
        "feature": _pick(category.features, rng),
        "Feature": _pick(category.features, rng).capitalize(),
        "Opener": _pick(_OPENERS, rng),
        "care": _pick(_CARE[category.department], rng),
    }
    title = _tidy(_pick(_TITLE_TEMPLATES, rng).format(**words))
    description = _tidy(_pick(_DESCRIPTION_TEMPLATES, rng).format(**words))
    return title, description


def query_for(attributes: dict, kind: str) -> str:
    """A shopper's search for a product, in canonical words.

    ``kind``: "colour_pattern_category" -> "red striped t-shirt" ("plain red t-shirt" for solid),
    "colour_category" -> "red t-shirt", "pattern_category" -> "striped t-shirt",
    "category" -> "t-shirt".  Only the attributes the kind names are read.
    """
    category = CATEGORY_BY_SLUG[attributes["category"]].query_name
    if kind == "category":
        return category
    if kind == "colour_category":
        return f"{attributes['colour']} {category}"
    pattern = PATTERN_BY_SLUG[attributes["pattern"]]
    if kind == "pattern_category":
        return f"{pattern.query_word} {category}"
    if kind == "colour_pattern_category":
        if pattern.slug == "solid":
            return f"plain {attributes['colour']} {category}"
        return f"{attributes['colour']} {pattern.query_word} {category}"
    raise ValueError(f"unknown query kind {kind!r}; expected one of {QUERY_KINDS}")

"""The demo catalog's vocabulary: categories, colours, patterns and materials.

Pure data.  Canonical names (``Colour.name``, ``Pattern.slug``, ``Category.slug``) are what
product attributes store; the synonym lists are what the shop copy in ``wording`` draws from.
"""

from __future__ import annotations

from dataclasses import dataclass

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class Category:
    """A product category: ``slug`` is stored in attributes, ``query_name`` is the shopper's word."""

    slug: str
    name: str
    department: str
    query_name: str
    synonyms: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class Colour:
    """A named colour: ``name`` is canonical, ``synonyms`` are shop-copy variants."""

    name: str
    rgb: Rgb
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class Pattern:
    """A surface pattern: ``adjectives`` qualify a noun ("striped"), ``nouns`` follow "in" ("stripes")."""

    slug: str
    query_word: str
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]


DEPARTMENTS = ("clothing", "footwear", "bags", "accessories", "home goods")

CATEGORIES: tuple[Category, ...] = (
    Category("t-shirt", "T-shirt", "clothing", "t-shirt", ("t-shirt", "tee", "T-shirt", "top"),
             ("cotton", "linen", "jersey"), ("crew-neck", "v-neck", "relaxed fit", "short-sleeved")),
    Category("dress", "Dress", "clothing", "dress", ("dress", "midi dress", "sundress"),
             ("cotton", "linen", "silk", "viscose"), ("A-line", "sleeveless", "flared", "midi-length")),
    Category("trousers", "Trousers", "clothing", "trousers", ("trousers", "pants", "chinos"),
             ("cotton", "denim", "linen", "wool"), ("straight-leg", "slim-fit", "wide-leg", "high-waisted")),
    Category("jacket", "Jacket", "clothing", "jacket", ("jacket", "zip jacket", "bomber jacket"),
             ("denim", "leather", "wool", "nylon"), ("zip-up", "long-sleeved", "lined", "cropped")),
    Category("sneaker", "Sneakers", "footwear", "sneakers", ("sneakers", "trainers", "sneaker"),
             ("canvas", "leather", "suede"), ("low-top", "lace-up", "cushioned", "rubber-soled")),
    Category("boot", "Boots", "footwear", "boots", ("boots", "ankle boots", "boot"),
             ("leather", "suede"), ("chelsea", "block-heel", "pull-on", "ankle-height")),
    Category("handbag", "Handbag", "bags", "handbag", ("handbag", "top-handle bag", "shoulder bag"),
             ("leather", "canvas", "suede"), ("structured", "top-handle", "zip-top", "roomy")),
    Category("backpack", "Backpack", "bags", "backpack", ("backpack", "rucksack", "daypack"),
             ("canvas", "nylon", "leather"), ("padded", "two-pocket", "laptop-friendly", "roll-top")),
    Category("hat", "Hat", "accessories", "hat", ("hat", "fedora", "brimmed hat"),
             ("wool", "cotton", "felt"), ("wide-brim", "banded", "packable", "classic")),
    Category("scarf", "Scarf", "accessories", "scarf", ("scarf", "wrap scarf", "shawl"),
             ("wool", "silk", "cashmere", "cotton"), ("fringed", "oversized", "lightweight", "soft")),
    Category("tie", "Tie", "accessories", "tie", ("tie", "necktie", "skinny tie"),
             ("silk", "wool", "polyester"), ("slim", "classic-width", "hand-finished", "pointed")),
    Category("mug", "Mug", "home goods", "mug", ("mug", "coffee mug", "tea mug"),
             ("ceramic", "stoneware", "porcelain"), ("dishwasher-safe", "350 ml", "handmade", "glazed")),
    Category("cushion", "Cushion", "home goods", "cushion", ("cushion", "throw pillow", "cushion cover"),
             ("cotton", "velvet", "linen"), ("square", "feather-filled", "zipped", "45 x 45 cm")),
    Category("lamp", "Table lamp", "home goods", "lamp", ("table lamp", "lamp", "bedside lamp"),
             ("ceramic", "linen", "cotton"), ("dimmable", "bedside", "fabric-shade", "compact")),
    Category("vase", "Vase", "home goods", "vase", ("vase", "flower vase", "bud vase"),
             ("ceramic", "glass", "stoneware", "porcelain"), ("handmade", "glazed", "tall", "round-bellied")),
)

# Well apart in RGB so the name survives lighting jitter; synonyms never cross into a neighbour.
COLOURS: tuple[Colour, ...] = (
    Colour("red", (200, 30, 35), ("red", "crimson", "scarlet", "cherry red")),
    Colour("orange", (240, 120, 20), ("orange", "tangerine", "pumpkin")),
    Colour("yellow", (245, 205, 30), ("yellow", "mustard", "lemon", "sunflower")),
    Colour("green", (40, 150, 60), ("green", "emerald", "forest green", "leaf green")),
    Colour("blue", (40, 100, 220), ("blue", "royal blue", "cobalt", "bright blue")),
    Colour("navy", (22, 32, 88), ("navy", "navy blue", "midnight blue", "dark blue")),
    Colour("purple", (120, 45, 160), ("purple", "violet", "plum", "grape")),
    Colour("pink", (240, 130, 175), ("pink", "rose", "blush pink", "bubblegum")),
    Colour("brown", (120, 72, 35), ("brown", "chocolate", "chestnut", "cognac")),
    Colour("black", (22, 22, 24), ("black", "jet black", "onyx", "ink black")),
    Colour("white", (246, 246, 242), ("white", "ivory", "off-white", "snow white")),
    Colour("grey", (128, 130, 134), ("grey", "gray", "slate grey", "heather grey")),
)

PATTERNS: tuple[Pattern, ...] = (
    Pattern("solid", "plain", ("plain", "solid", "solid-colour", ""), ("a solid finish", "a single colour")),
    Pattern("striped", "striped", ("striped", "stripe", "stripy"), ("stripes", "bold stripes")),
    Pattern("polka-dot", "polka dot", ("polka dot", "polka-dot", "dotted", "spotted"), ("polka dots", "spots")),
    Pattern("checked", "checked", ("checked", "check", "plaid", "gingham"), ("checks", "check pattern")),
    Pattern("zigzag", "zigzag", ("zigzag", "chevron", "zig-zag"), ("zigzags", "chevrons")),
    Pattern("floral", "floral", ("floral", "flower-print", "flowered"), ("florals", "flower print")),
)

# How each material reads in copy, and whether it looks glossy or textured on the picture.
MATERIAL_PHRASES: dict[str, tuple[str, ...]] = {
    "cotton": ("100% cotton", "soft cotton", "organic cotton"),
    "linen": ("pure linen", "breathable linen", "washed linen"),
    "jersey": ("stretch jersey", "cotton jersey"),
    "silk": ("pure silk", "mulberry silk"),
    "viscose": ("flowing viscose", "soft viscose"),
    "denim": ("rigid denim", "stretch denim"),
    "wool": ("pure wool", "merino wool", "brushed wool"),
    "nylon": ("recycled nylon", "water-repellent nylon"),
    "leather": ("genuine leather", "full-grain leather", "soft leather"),
    "canvas": ("sturdy canvas", "cotton canvas"),
    "suede": ("soft suede", "brushed suede"),
    "felt": ("wool felt", "pressed felt"),
    "cashmere": ("pure cashmere", "soft cashmere"),
    "polyester": ("recycled polyester", "easy-care polyester"),
    "ceramic": ("glazed ceramic", "hand-thrown ceramic"),
    "stoneware": ("speckled stoneware", "glazed stoneware"),
    "porcelain": ("fine porcelain", "bone porcelain"),
    "velvet": ("plush velvet", "cotton velvet"),
    "glass": ("blown glass", "tinted glass"),
}
GLOSSY_MATERIALS = frozenset({"leather", "silk", "ceramic", "porcelain", "glass", "stoneware", "velvet"})
TEXTURED_MATERIALS = frozenset({"wool", "denim", "linen", "canvas", "suede", "felt", "cashmere"})

CATEGORY_BY_SLUG = {category.slug: category for category in CATEGORIES}
COLOUR_BY_NAME = {colour.name: colour for colour in COLOURS}
PATTERN_BY_SLUG = {pattern.slug: pattern for pattern in PATTERNS}

"""Region proposals on busy backdrops and in collages (no database, no model)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from demo_project.training.scenes import _busy_backdrop
from demo_project.training.synthetic import make_product
from shop_clip import regions
from shop_clip.look_eval import iou


def _product(category: str, colour: str, seed: int):
    attributes = {"category": category, "colour": colour, "pattern": "solid", "material": "cotton"}
    return make_product(attributes, np.random.default_rng(seed), 256)


def _paste_cutout(scene: Image.Image, product, left: int, top: int, side: int) -> tuple:
    bbox = product.mask.getbbox()
    cut = product.image.crop(bbox).resize((side, side))
    scene.paste(cut, (left, top), product.mask.crop(bbox).resize((side, side)))
    return (left / scene.width, top / scene.height, (left + side) / scene.width, (top + side) / scene.height)


def _checks(width: int, height: int) -> Image.Image:
    ys, xs = np.mgrid[0:height, 0:width]
    checks = ((xs // 40 + ys // 40) % 2)[..., None] * np.array([40, 10, 30]) + np.array([150, 60, 120])
    return Image.fromarray(checks.astype(np.uint8), "RGB")


def test_products_on_a_busy_backdrop_are_found_and_their_crops_get_a_studio_backdrop():
    for backdrop in (_checks(480, 360), _busy_backdrop(480, 360, np.random.default_rng(4))):
        truth = [_paste_cutout(backdrop, _product("mug", "yellow", 1), 60, 90, 150),
                 _paste_cutout(backdrop, _product("boot", "blue", 2), 400, 120, 130)]  # cut off by the right edge
        proposals = regions.segmented_proposals(backdrop)
        assert 2 <= len(proposals) <= 3
        for box in truth:
            best = max(proposals, key=lambda proposal: iou(proposal.box, box))
            assert iou(best.box, box) >= 0.3
            assert best.mask is not None and best.tight is not None
            piece = np.asarray(regions.proposal_crop(backdrop, best))
            assert tuple(piece[1, 1]) == regions.STUDIO_GREY or tuple(piece[-2, -2]) == regions.STUDIO_GREY


def test_touching_products_on_a_busy_backdrop_are_one_blob_whose_halves_each_show_one():
    scene = _busy_backdrop(480, 360, np.random.default_rng(4))
    truth = [_paste_cutout(scene, _product("cushion", "blue", 11), 50, 90, 190),
             _paste_cutout(scene, _product("vase", "yellow", 12), 225, 100, 190)]  # over the cushion's edge
    [blob] = regions.segmented_proposals(scene)
    assert all(iou(blob.box, box) < 0.3 for box in truth)  # the blob is both, and neither
    halves = sorted(regions.halves(blob, scene), key=lambda half: half.box[0])
    for half, box, other in zip(halves, truth, truth[::-1], strict=True):
        assert iou(half.box, box) >= 0.8 and iou(half.box, other) < 0.1 and half.tight is None
    first, second = halves
    assert not (first.mask & second.mask).any() and not ((first.mask | second.mask) & ~blob.mask).any()
    assert (first.mask | second.mask).sum() >= 0.95 * blob.mask.sum()


def test_a_blob_is_halved_by_its_colours_not_by_a_straight_line():
    """A bar lying over a block and past it: the narrowest place is where it leaves the block, and
    a cut there would give the block's half a good part of the bar."""
    scene = _checks(480, 360)
    block, bar = (100, 60, 260, 300), (160, 140, 400, 220)
    scene.paste((30, 40, 200), block)
    scene.paste((230, 200, 20), bar)
    bar_pixels, block_pixels = Image.new("L", scene.size, 0), Image.new("L", scene.size, 0)
    bar_pixels.paste(255, bar)
    block_pixels.paste(255, block)
    block_pixels.paste(0, bar)
    [blob] = regions.segmented_proposals(scene)
    height, width = blob.mask.shape
    for half in regions.halves(blob, scene):
        pixels = bar_pixels if half.box[2] > 0.7 else block_pixels  # the bar reaches further right
        colour = np.asarray(pixels.resize((width, height), Image.NEAREST)) > 0
        # Mostly one colour, and most of it (the cut where the bar leaves the block: 0.76 and 0.56).
        assert (half.mask & colour).sum() >= 0.8 * half.mask.sum()
        assert (half.mask & colour).sum() >= 0.7 * (blob.mask & colour).sum()
    assert regions.halves(regions.Proposal((0.0, 0.0, 1.0, 1.0)), scene) is None  # a studio's blob keeps its backdrop
    speck = np.zeros((160, 213), dtype=bool)
    speck[10:14, 10:14] = True
    assert regions.halves(regions.Proposal((0.0, 0.0, 0.1, 0.1), speck), scene) is None


def test_a_studio_flat_lay_keeps_its_backdrop_in_the_crops():
    scene = Image.new("RGB", (480, 360), (222, 220, 216))
    box = _paste_cutout(scene, _product("hat", "red", 3), 100, 100, 140)
    proposals = regions.segmented_proposals(scene)
    assert len(proposals) == 1 and proposals[0].mask is None and iou(proposals[0].box, box) >= 0.3
    assert regions.proposal_crop(scene, proposals[0]).tobytes() == regions.crop(scene, proposals[0].box).tobytes()


def test_catalog_photos_side_by_side_are_split_into_their_products():
    """Two product photos touching on a lighter backdrop are one blob; each photo's own backdrop
    then separates its product."""
    scene = Image.new("RGB", (600, 340), (246, 246, 244))
    truth = []
    for product, left in ((_product("cushion", "green", 5), 40), (_product("backpack", "orange", 6), 300)):
        photo = Image.new("RGB", (260, 260), (196, 194, 190))
        box = _paste_cutout(photo, product, 40, 40, 180)  # as catalog photos frame them
        scene.paste(photo, (left, 40))
        truth.append(((left + box[0] * 260) / 600, (40 + box[1] * 260) / 340, (left + box[2] * 260) / 600,
                      (40 + box[3] * 260) / 340))
    assert len(regions.segmented_proposals(Image.new("RGB", (600, 340), (246, 246, 244)))) == 0
    proposals = regions.segmented_proposals(scene)
    assert len(proposals) == 2
    for box in truth:
        assert max(iou(proposal.box, box) for proposal in proposals) >= 0.5


def test_catalog_photos_reaching_the_edges_each_with_its_own_backdrop_give_their_products():
    """A collage tiled with photos: the border is the photos' backdrops (grey, white, lilac, sage),
    not the scene's, and each product stands out from all of them."""
    scene = Image.new("RGB", (400, 400), (214, 212, 222))
    backdrops = ((186, 190, 184), (238, 238, 236), (212, 204, 222), (196, 204, 192))
    products = (_product("scarf", "pink", 7), _product("trousers", "pink", 8), _product("dress", "green", 9),
                _product("handbag", "yellow", 10))
    truth = []
    for (left, top), backdrop, product in zip(((0, 0), (200, 0), (0, 200), (200, 200)), backdrops, products,
                                              strict=True):
        photo = Image.new("RGB", (200, 200), backdrop)
        box = _paste_cutout(photo, product, 35, 35, 130)
        scene.paste(photo, (left, top))
        truth.append(((left + box[0] * 200) / 400, (top + box[1] * 200) / 400, (left + box[2] * 200) / 400,
                      (top + box[3] * 200) / 400))
    proposals = regions.segmented_proposals(scene)
    assert len(proposals) == 4
    for box in truth:
        assert max(iou(proposal.box, box) for proposal in proposals) >= 0.4

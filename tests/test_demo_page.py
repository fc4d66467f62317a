"""The demo's home page is the storefront's search, and the storefront's script puts product data
into the page as text, never as HTML (stored XSS)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

PAYLOAD = "<img src=x onerror=alert(1)>"
PRODUCT_URL = "/shop/products/__pk__/"
# A document just big enough for the script; any use of innerHTML/outerHTML throws.
FAKE_DOM = r"""
const vm = require('vm');
class FakeElement {
  constructor(tag) { this.tag = tag; this.attributes = {}; this.children = []; this.style = {}; this.dataset = {}; }
  set textContent(text) { this.children = [{text: String(text)}]; }
  get textContent() { return this.children.map(c => c.text !== undefined ? c.text : c.textContent).join(''); }
  set innerHTML(html) { throw new Error('innerHTML assigned: ' + html); }
  get innerHTML() { throw new Error('innerHTML read'); }
  set outerHTML(html) { throw new Error('outerHTML assigned: ' + html); }
  insertAdjacentHTML() { throw new Error('insertAdjacentHTML called'); }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  append(...nodes) { for (const n of nodes) this.children.push(typeof n === 'string' ? {text: n} : n); }
  appendChild(node) { this.children.push(node); return node; }
  replaceChildren(...nodes) { this.children = []; this.append(...nodes); }
  addEventListener() {}
  toJSON() { return {tag: this.tag, attributes: this.attributes, children: this.children}; }
}
const document = {
  baseURI: 'http://testserver/shop/',
  readyState: 'complete',
  createElement: tag => new FakeElement(tag),
  getElementById: () => null,
  querySelectorAll: () => [],
  addEventListener() {},
  write() { throw new Error('document.write called'); },
};
const {script, hits, productUrl} = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const context = vm.createContext({document, URL, URLSearchParams, Map, console, setTimeout, clearTimeout});
context.window = context;
vm.runInContext(script, context);
const shopClip = context.shopClip;
const options = hits.map((hit, i) => shopClip.suggestion(hit, 'q-option-' + i, productUrl));
const messages = [shopClip.describeError(400, {detail: PAYLOAD_DETAIL}, null),
                  shopClip.describeError(429, {detail: 'Request was throttled.'}, '7'),
                  shopClip.describeError(502, null, null)];
console.log(JSON.stringify({options, messages}));
""".replace("PAYLOAD_DETAIL", json.dumps(f"min_price: {PAYLOAD}"))


def script_text() -> str:
    return Path(finders.find("shop_clip/shop_clip.js")).read_text()


def hit(image_url: str | None, product_id: object = 7) -> dict:
    return {"score": 0.5, "product": {"id": product_id, "title": PAYLOAD, "price": "9.99", "in_stock": False,
                                      "category": {"name": PAYLOAD}, "image_url": image_url}}


def walk(node: dict):
    yield node
    for child in node.get("children", []):
        yield from walk(child)


def test_the_home_page_is_the_storefront_search_with_no_inline_script(client, db):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="search"' in page and 'name="q"' in page and 'data-shop-clip-suggest="/api/shop-clip/search/"' in page
    assert '<script src="/static/shop_clip/shop_clip.js" defer></script>' in page
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []  # all behaviour is in the static file
    for link in ("/shop/photo/", "/shop/shop-the-look/"):
        assert f'href="{link}"' in page


def test_the_script_builds_no_html_from_strings():
    script = script_text()
    assert "function suggestion(" in script  # the script under test is the one that builds the suggestions
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "createContextualFragment", "DOMParser"):
        assert sink not in script, sink


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_product_data_lands_as_text_and_image_urls_are_checked():
    image_urls = ["/media/products/shirt.jpg", "https://cdn.example/shirt.jpg", "javascript:alert(1)",
                  "data:text/html,<script>alert(1)</script>", 'x" onerror="alert(1)', None]
    hostile_id = '1"><img src=x onerror=alert(1)>'
    hits = [hit(url) for url in image_urls] + [hit("/media/a.jpg", product_id=hostile_id)]
    result = subprocess.run(["node", "-e", FAKE_DOM], capture_output=True, text=True, timeout=60,
                            input=json.dumps({"script": script_text(), "hits": hits, "productUrl": PRODUCT_URL}))
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    for option in built["options"]:
        nodes = list(walk(option))
        images = [n for n in nodes if n.get("tag") == "img"]
        assert len(images) == 1 and images[0]["attributes"]["alt"] == PAYLOAD  # alt text: the title, as text
        assert option["attributes"]["role"] == "option" and option["attributes"]["aria-label"] == PAYLOAD
        assert [n["text"] for n in nodes if "text" in n] == [PAYLOAD]
    sources = [next(n for n in walk(o) if n.get("tag") == "img")["attributes"].get("src") for o in built["options"]]
    assert sources == ["/media/products/shirt.jpg", "https://cdn.example/shirt.jpg", None, None,
                       'x" onerror="alert(1)', None, "/media/a.jpg"]  # the 5th: a relative URL, an attribute value
    links = [next(n for n in walk(o) if n.get("tag") == "a")["attributes"] for o in built["options"]]
    assert links[0]["href"] == "/shop/products/7/"
    assert links[-1]["href"] == "/shop/products/1%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E/"
    assert built["options"][-1]["attributes"]["data-product-id"] == hostile_id  # an attribute value, never markup
    assert built["messages"] == [f"min_price: {PAYLOAD}", "Too many searches right now: try again in 7 seconds.",
                                 "Search is unavailable right now (HTTP 502); try again."]

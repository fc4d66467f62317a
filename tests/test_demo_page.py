"""The demo search page puts product data into the page as text, never as HTML (stored XSS)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

PAYLOAD = "<img src=x onerror=alert(1)>"
# A document just big enough for the page's script; any use of innerHTML/outerHTML throws.
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
  append(...nodes) { for (const n of nodes) this.children.push(typeof n === 'string' ? {text: n} : n); }
  appendChild(node) { this.children.push(node); return node; }
  replaceChildren(...nodes) { this.children = []; this.append(...nodes); }
  addEventListener() {}
  toJSON() { return {tag: this.tag, attributes: this.attributes, children: this.children}; }
}
const elements = {};
const document = {
  baseURI: 'http://testserver/',
  createElement: tag => new FakeElement(tag),
  getElementById: id => elements[id] || (elements[id] = new FakeElement('div')),
  write() { throw new Error('document.write called'); },
};
const {script, hits} = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const context = vm.createContext({document, URL, console});
vm.runInContext(script, context);
const cards = vm.runInContext('hits => hits.map(card)', context)(hits);
vm.runInContext('render', context)({groups: [{category: hits[0].product.title, box: null, results: hits}]});
console.log(JSON.stringify({cards, results: elements.results}));
"""


def page_script(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", response.content.decode(), re.S)
    assert len(scripts) == 1
    return scripts[0]


def hit(image_url: str | None, product_id: object = 7) -> dict:
    return {"score": 0.5, "product": {"id": product_id, "title": PAYLOAD, "price": "9.99", "in_stock": False,
                                      "category": {"name": PAYLOAD}, "image_url": image_url}}


def walk(node: dict):
    yield node
    for child in node.get("children", []):
        yield from walk(child)


def test_the_page_builds_no_html_from_strings(client):
    script = page_script(client)
    assert "card(" in script  # the script under test is the one that builds the cards
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_product_data_lands_as_text_and_image_urls_are_checked(client):
    image_urls = ["/media/products/shirt.jpg", "https://cdn.example/shirt.jpg", "javascript:alert(1)",
                  "data:text/html,<script>alert(1)</script>", 'x" onerror="alert(1)', None]
    hits = [hit(url) for url in image_urls] + [hit("/media/a.jpg", product_id='1"><img src=x onerror=alert(1)>')]
    result = subprocess.run(["node", "-e", FAKE_DOM], input=json.dumps({"script": page_script(client), "hits": hits}),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    for card in built["cards"]:
        nodes = list(walk(card))
        assert [n["tag"] for n in nodes if "tag" in n].count("img") == 1  # the card's own picture, no other
        texts = [n["text"] for n in nodes if "text" in n]
        assert PAYLOAD in texts and any(text.startswith(PAYLOAD + " · €9.99 · sold out") for text in texts)
    sources = [next(n for n in walk(card) if n.get("tag") == "img")["attributes"].get("src") for card in built["cards"]]
    assert sources == ["/media/products/shirt.jpg", "https://cdn.example/shirt.jpg", None, None,
                       'x" onerror="alert(1)', None, "/media/a.jpg"]  # the 5th: a relative URL, an attribute value
    links = [n["attributes"] for n in walk(built["cards"][-1]) if n.get("tag") == "a"]
    assert links[0]["data-id"] == links[1]["data-look"] == '1"><img src=x onerror=alert(1)>'
    heading = built["results"]["children"][0]
    assert heading["tag"] == "h2" and heading["children"] == [{"text": PAYLOAD}]
    assert len(built["results"]["children"]) == 1 + len(hits)

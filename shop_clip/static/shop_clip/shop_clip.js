/* shop-clip storefront: enhances the pages and tags, which all work without it.
 * No dependencies, no build step.  Product data reaches the page only through textContent and
 * checked attributes, never as HTML.
 *   - suggestions as one types (a minimum length and a debounce: no embedding per keystroke),
 *     chosen with the arrow keys; the API's message on an error, and on 429;
 *   - the arrow keys move between result cards;
 *   - a photo dropped on the form, or pasted, is uploaded; the upload shows that it is loading;
 *   - a box on the shop-the-look photo shows that region's products.
 */
(function () {
  'use strict';
  if (window.shopClip) return;  // a store's base and a page may both include the script

  var PK = '__pk__';

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.setAttribute('class', className);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A relative or http(s) URL, else none: no javascript:, data: or other scheme from product data.
  function imageSource(url) {
    if (typeof url !== 'string' || !url) return null;
    try {
      var protocol = new URL(url, document.baseURI).protocol;
      return protocol === 'http:' || protocol === 'https:' ? url : null;
    } catch (error) {
      return null;
    }
  }

  function productTitle(product) {
    var names = ['title', 'name'];
    for (var i = 0; i < names.length; i++) {
      var value = product[names[i]];
      if (typeof value === 'string' && value.trim()) return value.trim();
    }
    return 'Product ' + String(product.id);
  }

  // The product page of a key, from the URL the page gives with __pk__ in it.
  function productLink(template, id) {
    return template.split(PK).join(encodeURIComponent(String(id)));
  }

  // What to tell the shopper about an answer that is not a result: the API's own `detail`.
  function describeError(status, body, retryAfter) {
    var detail = body && typeof body.detail === 'string' ? body.detail : '';
    if (status === 429) {
      if (retryAfter) return 'Too many searches right now: try again in ' + retryAfter + ' seconds.';
      return 'Too many searches right now: ' + (detail || 'try again shortly.');
    }
    if (detail) return detail;
    return 'Search is unavailable right now' + (status ? ' (HTTP ' + status + ')' : '') + '; try again.';
  }

  function readAnswer(response) {
    return response.text().then(function (text) {
      var body = null;
      try { body = JSON.parse(text); } catch (error) { body = null; }
      if (response.ok && body) return {ok: true, body: body};
      return {ok: false, status: response.status,
              message: describeError(response.status, body, response.headers.get('Retry-After'))};
    });
  }

  // One suggested product: an option holding a link, its picture (alt: the title) and its title.
  function suggestion(hit, id, productTemplate) {
    var product = hit.product || {};
    var title = productTitle(product);
    var option = element('li', 'shop-clip-option');
    option.setAttribute('id', id);
    option.setAttribute('role', 'option');
    option.setAttribute('aria-selected', 'false');
    option.setAttribute('aria-label', title);
    option.setAttribute('data-product-id', String(product.id));
    var link = element('a', 'shop-clip-option-link');
    link.setAttribute('tabindex', '-1');
    if (productTemplate) link.setAttribute('href', productLink(productTemplate, product.id));
    var image = element('img');
    image.setAttribute('alt', title);
    var source = imageSource(product.image_url);
    if (source) image.setAttribute('src', source);
    link.append(image, element('span', 'shop-clip-option-title', title));
    option.appendChild(link);
    return option;
  }

  function say(status, text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('shop-clip-error', Boolean(isError));
  }

  function enhanceSearch(input) {
    var form = input.form;
    var list = document.getElementById(input.id + '-suggestions');
    var status = document.getElementById(input.id + '-status');
    if (!form || !list) return;
    var endpoint = input.getAttribute('data-shop-clip-suggest');
    var productTemplate = input.getAttribute('data-product-url') || '';
    var minLength = Number(input.getAttribute('data-min-length')) || 3;
    var debounce = Number(input.getAttribute('data-debounce')) || 300;
    var timer = null, controller = null, asked = '', options = [], active = -1;
    var answers = new Map();  // the same words and filters are asked once per page
    // The API refuses a name it does not take: a store's own form fields (sort, a hidden field) stay on the page.
    var taken = input.hasAttribute('data-params') ? input.getAttribute('data-params').split(' ') : null;

    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    input.setAttribute('aria-controls', list.id);

    function query() {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === 'string' && value !== '' && name !== 'offset' && name !== 'q' &&
            (taken === null || taken.indexOf(name) >= 0)) params.append(name, value);
      });
      params.set('q', input.value.trim());
      params.set('limit', '5');
      return params.toString();
    }

    function close() {
      list.hidden = true;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
      active = -1;
    }

    function highlight(index) {
      options.forEach(function (option, i) { option.setAttribute('aria-selected', String(i === index)); });
      active = index;
      if (index >= 0) {
        input.setAttribute('aria-activedescendant', options[index].id);
        if (options[index].scrollIntoView) options[index].scrollIntoView({block: 'nearest'});
      } else {
        input.removeAttribute('aria-activedescendant');
      }
    }

    function show(hits) {
      options = hits.map(function (hit, i) { return suggestion(hit, input.id + '-option-' + i, productTemplate); });
      list.replaceChildren.apply(list, options);
      highlight(-1);
      list.hidden = options.length === 0;
      input.setAttribute('aria-expanded', String(options.length > 0));
      say(status, options.length ? options.length + ' suggestion' + (options.length === 1 ? '' : 's') +
          ': the arrow keys choose one, Enter opens it' : 'No suggestions: press Enter to search');
    }

    function ask() {
      var words = input.value.trim();
      if (words.length < minLength) {
        if (controller) controller.abort();
        asked = '';
        close();
        say(status, '');
        return;
      }
      var key = query();
      if (key === asked) return;
      asked = key;
      if (answers.has(key)) { show(answers.get(key)); return; }
      if (controller) controller.abort();
      var mine = controller = new AbortController();
      form.setAttribute('aria-busy', 'true');
      say(status, 'Searching…');
      fetch(endpoint + '?' + key, {signal: mine.signal, credentials: 'same-origin',
                                   headers: {Accept: 'application/json'}})
        .then(readAnswer)
        .then(function (answer) {
          if (mine !== controller) return;
          if (!answer.ok) {
            asked = '';  // asked again after an error: it may pass next time
            close();
            say(status, answer.message, true);
            return;
          }
          var hits = Array.isArray(answer.body.results) ? answer.body.results : [];
          answers.set(key, hits);
          show(hits);
        })
        .catch(function (error) {
          if (error && error.name === 'AbortError') return;
          asked = '';
          close();
          say(status, describeError(0, null, null), true);
        })
        .finally(function () { if (mine === controller) form.removeAttribute('aria-busy'); });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(ask, debounce);
    }

    input.addEventListener('input', later);
    form.addEventListener('change', function (event) { if (event.target !== input) later(); });
    input.addEventListener('keydown', function (event) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        if (!options.length) return;
        event.preventDefault();
        if (list.hidden) { list.hidden = false; input.setAttribute('aria-expanded', 'true'); }
        var step = event.key === 'ArrowDown' ? 1 : -1;
        var next = active + step;
        highlight(next < -1 ? options.length - 1 : next >= options.length ? -1 : next);
      } else if (event.key === 'Enter' && active >= 0 && !list.hidden) {
        var link = options[active].querySelector('a');
        if (link && link.getAttribute('href')) {
          event.preventDefault();
          window.location.assign(link.getAttribute('href'));
        }
      } else if (event.key === 'Escape' && !list.hidden) {
        event.preventDefault();
        close();
      }
    });
    input.addEventListener('blur', function () { setTimeout(close, 200); });
    input.addEventListener('focus', function () {
      if (options.length && input.value.trim().length >= minLength) {
        list.hidden = false;
        input.setAttribute('aria-expanded', 'true');
      }
    });
    list.addEventListener('mousedown', function (event) { event.preventDefault(); });  // keep the focus
  }

  // The arrow keys, Home and End move the focus between the cards of a grid.
  function enhanceResults(grid) {
    grid.addEventListener('keydown', function (event) {
      var links = Array.prototype.slice.call(grid.querySelectorAll('a.shop-clip-card-link'));
      var index = links.indexOf(document.activeElement);
      if (index < 0) return;
      var top = links[0].getBoundingClientRect().top, columns = 0;
      while (columns < links.length && Math.abs(links[columns].getBoundingClientRect().top - top) < 2) columns++;
      columns = Math.max(1, columns);
      var moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns,
                   Home: -index, End: links.length - 1 - index};
      if (!Object.prototype.hasOwnProperty.call(moves, event.key)) return;
      var next = index + moves[event.key];
      if (next < 0 || next >= links.length) return;
      event.preventDefault();
      links[next].focus();
    });
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '') + ' MB';
  }

  var pasteTaken = false;

  function enhancePhotoForm(form) {
    var input = form.querySelector('input[type=file]');
    if (!input) return;
    var zone = form.querySelector('[data-shop-clip-drop]') || form;
    var status = form.querySelector('[data-shop-clip-photo-status]');
    var button = form.querySelector('button[type=submit], button:not([type])');
    var most = Number(form.getAttribute('data-max-bytes')) || Infinity;
    Array.prototype.forEach.call(form.querySelectorAll('[data-shop-clip-js-only]'), function (hint) {
      hint.hidden = false;
    });
    var preview = null;

    function refusal(file) {
      if (!file) return 'Choose a photo first.';
      if (file.type && file.type.indexOf('image/') !== 0) return 'That file is not a photo: choose an image.';
      if (file.size > most) {
        return 'This photo is ' + megabytes(file.size) + ', larger than ' + megabytes(most) + ': choose a smaller one.';
      }
      return null;
    }

    function showPreview(file) {
      if (!preview) {
        preview = element('img', 'shop-clip-preview');
        preview.setAttribute('alt', 'The photo you chose');
        zone.appendChild(preview);
      }
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.setAttribute('src', URL.createObjectURL(file));
    }

    function take(file) {
      var refused = refusal(file);
      if (refused) { say(status, refused, true); return; }
      var transfer = new DataTransfer();
      transfer.items.add(file);
      input.files = transfer.files;
      showPreview(file);
      if (form.requestSubmit) form.requestSubmit(button || undefined); else form.submit();
    }

    function done() {
      form.removeAttribute('aria-busy');
      form.classList.remove('shop-clip-loading');
      if (button) button.disabled = false;
    }

    input.addEventListener('change', function () {
      var file = input.files[0];
      var refused = file ? refusal(file) : null;
      say(status, refused || '', Boolean(refused));
      if (file && !refused) showPreview(file);
    });
    form.addEventListener('submit', function (event) {
      var refused = refusal(input.files[0]);
      if (form.getAttribute('aria-busy') === 'true') { event.preventDefault(); return; }  // one upload at a time
      if (refused) { event.preventDefault(); say(status, refused, true); input.focus(); return; }
      form.setAttribute('aria-busy', 'true');
      form.classList.add('shop-clip-loading');
      say(status, 'Uploading your photo and searching…');
      setTimeout(function () { if (button) button.disabled = true; }, 0);  // after the form is sent
    });
    window.addEventListener('pageshow', done);  // back from the answer: the form is usable again
    zone.addEventListener('dragover', function (event) {
      event.preventDefault();
      zone.classList.add('shop-clip-dragging');
    });
    zone.addEventListener('dragleave', function () { zone.classList.remove('shop-clip-dragging'); });
    zone.addEventListener('drop', function (event) {
      event.preventDefault();
      zone.classList.remove('shop-clip-dragging');
      take(event.dataTransfer && event.dataTransfer.files[0]);
    });
    if (!pasteTaken) {  // one photo form of a page takes pasted photos
      pasteTaken = true;
      document.addEventListener('paste', function (event) {
        var files = event.clipboardData ? Array.prototype.slice.call(event.clipboardData.files) : [];
        var photo = files.filter(function (file) { return file.type.indexOf('image/') === 0; })[0];
        if (photo) { event.preventDefault(); take(photo); }
      });
    }
  }

  // Shop the look: a box shows its region's products alone; "show every product" undoes it.
  function enhanceLook(look) {
    var boxes = Array.prototype.slice.call(look.querySelectorAll('.shop-clip-box'));
    var regions = Array.prototype.slice.call(look.querySelectorAll('.shop-clip-region'));
    var status = look.querySelector('[data-shop-clip-look-status]');
    var showAll = look.querySelector('[data-shop-clip-show-all]');

    function choose(number) {
      regions.forEach(function (region) {
        region.hidden = number !== null && region.getAttribute('data-region') !== number;
      });
      boxes.forEach(function (box) {
        if (box.getAttribute('data-region') === number) box.setAttribute('aria-current', 'true');
        else box.removeAttribute('aria-current');
      });
      if (showAll) showAll.hidden = number === null;
      if (number === null) {
        say(status, 'Showing every product found in your photo.');
        return;
      }
      var region = regions.filter(function (r) { return r.getAttribute('data-region') === number; })[0];
      if (!region) return;
      var count = region.querySelectorAll('.shop-clip-card').length;
      say(status, (region.getAttribute('data-name') || 'Region ' + number) + ': ' + count + ' product' +
          (count === 1 ? '' : 's') + '.');
    }

    boxes.forEach(function (box) {
      box.addEventListener('click', function (event) {
        event.preventDefault();
        choose(box.getAttribute('data-region'));
      });
    });
    if (showAll) showAll.addEventListener('click', function () { choose(null); });
    var wanted = window.location.hash.match(/^#shop-clip-region-(\d+)$/);
    if (wanted) choose(wanted[1]);
  }

  function init(root) {
    var each = function (selector, enhance) {
      Array.prototype.forEach.call(root.querySelectorAll(selector), enhance);
    };
    each('input[data-shop-clip-suggest]', enhanceSearch);
    each('[data-shop-clip-results]', enhanceResults);
    each('form[data-shop-clip-photo]', enhancePhotoForm);
    each('[data-shop-clip-look]', enhanceLook);
  }

  window.shopClip = {element: element, imageSource: imageSource, productTitle: productTitle,
                     productLink: productLink, suggestion: suggestion, describeError: describeError, init: init};
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { init(document); });
  } else {
    init(document);
  }
})();

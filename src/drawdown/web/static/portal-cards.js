// The cards page: Stripe.js turns the card typed into a single-use token; the portal keeps it on the
// customer (POST /portal/cards/add, with the session's CSRF token) and the page reloads with the card listed.
(function () {
  'use strict';
  var form = document.getElementById('add-card');
  if (!form || typeof Stripe === 'undefined') { return; }
  var button = document.getElementById('add-card-button');
  var errorBox = document.getElementById('add-card-error');
  var label = button.textContent;
  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create('card', { style: { base: { fontSize: '16px', color: '#111827' } } });
  card.mount('#card-element');
  function show(message) { errorBox.textContent = message; errorBox.hidden = false; }
  function busy(on) { button.disabled = on; button.textContent = on ? 'Saving…' : label; form.setAttribute('aria-busy', on ? 'true' : 'false'); }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    busy(true);
    stripe.createToken(card).then(function (result) {
      if (!result || result.error || !result.token) {
        throw new Error((result && result.error && result.error.message) || 'Check the card number, expiry date and security code.');
      }
      var body = new URLSearchParams();
      body.set('csrf_token', form.dataset.csrf);
      body.set('token', result.token.id);
      return fetch(form.action, { method: 'POST', body: body, credentials: 'same-origin',
        headers: { 'Accept': 'application/json' } });
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.message || 'The card could not be saved. Please try again.'); }
        window.location.assign(form.dataset.done);
      });
    }).catch(function (error) { show(error.message); busy(false); });
  });
})();

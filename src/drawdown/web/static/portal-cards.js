// The cards page adds a card through a Stripe SetupIntent: the portal makes one (POST /portal/cards/setup,
// with the session's CSRF token), Stripe.js confirms it with the card typed (the number goes to Stripe
// only), then the portal keeps the card saved (POST /portal/cards/add) and the page reloads with it listed.
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
  function post(url, fields) {
    var body = new URLSearchParams();
    body.set('csrf_token', form.dataset.csrf);
    Object.keys(fields).forEach(function (name) { body.set(name, fields[name]); });
    return fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) { throw new Error(data.message || 'The card could not be saved. Please try again.'); }
          return data;
        });
      });
  }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    busy(true);
    post(form.dataset.setup, {}).then(function (made) {
      return stripe.confirmCardSetup(made.client_secret, { payment_method: { card: card } });
    }).then(function (result) {
      if (!result || result.error || !result.setupIntent) {
        throw new Error((result && result.error && result.error.message) || 'Check the card number, expiry date and security code.');
      }
      return post(form.action, { setup_intent: result.setupIntent.id });
    }).then(function () {
      window.location.assign(form.dataset.done);
    }).catch(function (error) { show(error.message); busy(false); });
  });
})();

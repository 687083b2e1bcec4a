// The payment page: Stripe.js makes a single-use token of the card, Drawdown charges it. When the
// bank asks for 3-D Secure, Stripe.js runs it and Drawdown is asked to check the result.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  if (!form) { return; }
  var button = document.getElementById('pay-button');
  var errorBox = document.getElementById('pay-error');
  var saveBox = document.getElementById('save-card');
  var label = button.textContent;
  var GENERIC = 'The payment could not be sent. Check your connection and try again.';

  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create('card', {
    hidePostalCode: false,
    style: { base: { fontSize: '16px', color: '#1f2937' }, invalid: { color: '#b91c1c' } }
  });
  card.mount('#card-element');
  if (card.on) {
    card.on('change', function (event) {
      if (event && event.error) { show(event.error.message); } else { hide(); }
    });
  }

  function show(message) { errorBox.textContent = message || GENERIC; errorBox.hidden = false; }
  function hide() { errorBox.hidden = true; errorBox.textContent = ''; }
  function busy(on, text) {
    button.disabled = on;
    button.textContent = on ? text : label;
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin'
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!data.status) { throw new Error(data.detail || data.message || GENERIC); }
        return data;
      });
    });
  }

  function follow(data, authenticated) {
    if (data.status === 'requires_action' && !authenticated) {
      busy(true, 'Waiting for your bank…');
      // Whatever the bank answered, Drawdown asks Stripe for the payment's state and settles it.
      return stripe.confirmCardPayment(data.client_secret).then(function () {
        return post(form.dataset.completeUrl);
      }).then(function (after) { return follow(after, true); });
    }
    if (data.status === 'requires_action') {
      throw new Error('Your bank did not confirm the payment. Please try again.');
    }
    busy(true, data.status === 'succeeded' ? 'Paid' : 'Redirecting…');
    window.location.assign(data.redirect);
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    hide();
    busy(true, 'Paying…');
    stripe.createToken(card).then(function (result) {
      if (!result || result.error || !result.token) {
        var message = result && result.error && result.error.message;
        throw new Error(message || 'Check your card details: number, expiry date and security code.');
      }
      return post(form.dataset.cardUrl, { token: result.token.id, save_card: saveBox.checked });
    }).then(function (data) { return follow(data, false); }).catch(function (error) {
      show(error && error.message);
      busy(false);
    });
  });
})();

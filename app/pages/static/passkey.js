// The passkey pages' one script: ask the bot for WebAuthn options, let the browser make or
// use a passkey (navigator.credentials), send the answer back. The one-time token is the
// page's own path; nothing else is secret and nothing is kept in the browser.
"use strict";

function bytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function text(buffer) {
  const raw = String.fromCharCode(...new Uint8Array(buffer));
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(o) {
  return {
    ...o,
    challenge: bytes(o.challenge),
    user: { ...o.user, id: bytes(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: bytes(c.id) })),
  };
}

function requestOptions(o) {
  return {
    ...o,
    challenge: bytes(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: bytes(c.id) })),
  };
}

function asJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: text(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = text(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = text(r.authenticatorData);
    response.signature = text(r.signature);
    response.userHandle = r.userHandle ? text(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: text(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment || null,
  };
}

async function post(path, body) {
  const answer = await fetch(window.location.pathname + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
  const data = await answer.json();
  if (!answer.ok || data.ok === false) throw new Error(data.message || words.refused);
  return data;
}

// The sentences this script may show, in the page's language: the page puts them on <main>
// as data attributes (data-waiting, data-unsupported, data-cancelled, data-refused).
let words = {};

function say(message, kind) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = kind;
}

async function run(ceremony, button) {
  button.disabled = true;
  say(words.waiting, "");
  try {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      throw new Error(words.unsupported);
    }
    const options = await post("/options", {});
    let credential;
    try {
      credential = ceremony === "register"
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
    } catch (error) {
      throw new Error(words.cancelled);
    }
    const done = await post("/verify", { credential: asJSON(credential) });
    say(done.message, "done");
  } catch (error) {
    say(error.message, "failed");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main");
  words = main.dataset;
  const button = document.getElementById("go");
  if (button) button.addEventListener("click", () => run(main.dataset.ceremony, button));
});

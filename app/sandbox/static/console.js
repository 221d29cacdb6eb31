// The demo console: renders what the bot sent (Block Kit, mrkdwn) and sends what a person does.
// Every text is hostile: nothing here writes HTML; text goes into the page as text nodes only.
"use strict";

// How far `when` is from `now` (both in ms), as Slack's `{ago}` says it: "in 1 minute",
// "5 minutes ago". A moment still ahead is "in …" however close, never "0 minutes ago".
function relativeTime(when, now) {
  const seconds = (when - now) / 1000;
  if (Math.abs(seconds) < 60 && seconds <= 0) return "just now";
  const count = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  const minutes = Math.max(1, Math.round(Math.abs(seconds) / 60));
  const hours = Math.round(minutes / 60);
  const days = Math.round(hours / 24);
  const span =
    minutes < 60 ? count(minutes, "minute") : hours < 48 ? count(hours, "hour") : count(days, "day");
  return seconds > 0 ? `in ${span}` : `${span} ago`;
}

(() => {
  const POLL_MS = 600;
  let state = null;
  let me = null;
  let pane = "channel";
  let shown = "";        // what the message pane shows, to redraw only on change
  let shownModal = "";   // the modal as drawn, to keep what was typed while it is unchanged

  // --- small DOM helpers ------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function unescapeSlack(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function person(id) {
    return state && state.people.find((p) => p.id === id);
  }

  // Slack writes dates in each reader's own language.
  function reader() {
    return (state && state.locale) || undefined;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ as: me, ...body }),
    });
    return response.ok ? response.json() : { status: response.status };
  }

  // --- mrkdwn -----------------------------------------------------------------------------------

  const DATE_TOKENS = {
    date_num: (d) => d.toISOString().slice(0, 10),
    date: (d) => d.toLocaleDateString(reader(), { month: "long", day: "numeric", year: "numeric" }),
    date_short: (d) => d.toLocaleDateString(reader(), { month: "short", day: "numeric", year: "numeric" }),
    date_long: (d) => d.toLocaleDateString(reader(), { weekday: "long", month: "long", day: "numeric", year: "numeric" }),
    time: (d) => d.toLocaleTimeString(reader(), { hour: "2-digit", minute: "2-digit" }),
    time_secs: (d) => d.toLocaleTimeString(),
  };
  DATE_TOKENS.date_pretty = (d) => pretty(d) || DATE_TOKENS.date(d);
  DATE_TOKENS.date_short_pretty = (d) => pretty(d) || DATE_TOKENS.date_short(d);
  DATE_TOKENS.date_long_pretty = (d) => pretty(d) || DATE_TOKENS.date_long(d);
  DATE_TOKENS.ago = (d) => relativeTime(d.getTime(), Date.now());

  function pretty(d) {
    const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
    const diff = Math.round((day(d) - day(new Date())) / 86400000);
    return { "-1": "yesterday", 0: "today", 1: "tomorrow" }[diff];
  }

  function formatDate(spec, fallback) {
    const [epoch, format] = spec.split("^");
    const date = new Date(Number(epoch) * 1000);
    if (!format || Number.isNaN(date.getTime())) return fallback || spec;
    return format.replace(/\{(\w+)\}/g, (all, token) => (DATE_TOKENS[token] ? DATE_TOKENS[token](date) : all));
  }

  // `<…>` tokens: mentions, channels, dates, special mentions and links.
  function angle(token, parent) {
    const [target, ...rest] = token.split("|");
    const label = rest.join("|");
    if (target.startsWith("@")) {
      const who = person(target.slice(1));
      parent.append(el("span", "mention", "@" + (who ? who.handle : label || target.slice(1))));
    } else if (target.startsWith("#")) {
      const known = target.slice(1) === state.channel.id ? state.channel.name : null;
      parent.append(el("span", "mention", "#" + (label || known || target.slice(1))));
    } else if (target.startsWith("!date^")) {
      const date = el("span", "date", formatDate(target.slice(6), unescapeSlack(label)));
      date.title = unescapeSlack(label);
      parent.append(date);
    } else if (target.startsWith("!subteam^")) {
      const handle = state.groups[target.slice(9)];
      parent.append(el("span", "mention", label ? unescapeSlack(label) : "@" + (handle || "group")));
    } else if (target.startsWith("!")) {
      parent.append(el("span", "mention", "@" + target.slice(1)));
    } else if (/^(https?:\/\/|mailto:)/i.test(target)) {
      const link = el("a", null, unescapeSlack(label || target));
      link.href = unescapeSlack(target);
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      parent.append(link);
    } else {
      parent.append(unescapeSlack("<" + token + ">"));
    }
  }

  const INLINE = /(`[^`\n]+`)|<([^<>\n]+)>|(?<![\p{L}\p{N}])\*([^*\n]+)\*(?![\p{L}\p{N}])|(?<![\p{L}\p{N}])_([^_\n]+)_(?![\p{L}\p{N}])|(?<![\p{L}\p{N}])~([^~\n]+)~(?![\p{L}\p{N}])/u;

  function inline(text, parent) {
    let rest = text;
    while (rest) {
      const match = INLINE.exec(rest);
      if (!match) {
        parent.append(unescapeSlack(rest));
        return;
      }
      if (match.index) parent.append(unescapeSlack(rest.slice(0, match.index)));
      if (match[1]) parent.append(el("code", "inline", unescapeSlack(match[1].slice(1, -1))));
      else if (match[2]) angle(match[2], parent);
      else {
        const tag = match[3] ? "strong" : match[4] ? "em" : "s";
        const styled = el(tag);
        inline(match[3] || match[4] || match[5], styled);
        parent.append(styled);
      }
      rest = rest.slice(match.index + match[0].length);
    }
  }

  function mrkdwn(text, parent) {
    const parts = String(text || "").split(/(```[\s\S]*?```)/);
    parts.forEach((part) => {
      if (part.startsWith("```") && part.endsWith("```") && part.length >= 6) {
        parent.append(el("pre", "code", unescapeSlack(part.slice(3, -3))));
        return;
      }
      part.split("\n").forEach((line, index) => {
        if (index) parent.append(document.createElement("br"));
        const quote = /^(&gt;|>) ?/.exec(line);
        if (quote) {
          const block = el("blockquote");
          inline(line.slice(quote[0].length), block);
          parent.append(block);
        } else {
          inline(line, parent);
        }
      });
    });
  }

  function textObject(object, parent) {
    if (!object) return;
    if (object.type === "mrkdwn") mrkdwn(object.text, parent);
    else parent.append(String(object.text || ""));
  }

  // --- Block Kit --------------------------------------------------------------------------------

  function button(element, onClick) {
    const node = el("button", "btn" + (element.style ? " " + element.style : ""));
    node.type = "button";
    textObject(element.text, node);
    node.addEventListener("click", async () => {
      node.disabled = true;
      try {
        await onClick(element);
      } finally {
        node.disabled = false;
        refresh();
      }
    });
    return node;
  }

  function renderInput(block, values) {
    const wrap = el("div", "input");
    wrap.dataset.blockId = block.block_id || "";
    const label = el("label");
    const id = "input-" + (block.block_id || Math.random().toString(36).slice(2));
    label.htmlFor = id;
    textObject(block.label, label);
    if (block.optional) label.append(" ", el("span", "optional", "(optional)"));
    wrap.append(label);
    const element = block.element || {};
    if (element.type !== "plain_text_input") {
      wrap.append(el("div", "hint", `[${element.type || "element"} is not shown in the demo console]`));
      return wrap;
    }
    const field = el(element.multiline ? "textarea" : "input");
    field.id = id;
    field.name = block.block_id || "";
    if (!element.multiline) field.type = "text";
    if (element.max_length) field.maxLength = element.max_length;
    if (element.placeholder) field.placeholder = element.placeholder.text || "";
    const kept = values && values[block.block_id];
    field.value = kept !== undefined ? kept : element.initial_value || "";
    wrap.append(field);
    if (block.hint) wrap.append(el("div", "hint", block.hint.text || ""));
    wrap.append(el("div", "error"));
    return wrap;
  }

  function renderBlocks(blocks, parent, onAction, values) {
    (blocks || []).forEach((block) => {
      if (!block || typeof block !== "object") return;
      if (block.type === "header") {
        parent.append(el("div", "block header", String((block.text && block.text.text) || "")));
      } else if (block.type === "divider") {
        parent.append(el("hr", "block divider"));
      } else if (block.type === "section") {
        const section = el("div", "block section");
        const body = el("div", "text");
        textObject(block.text, body);
        if (Array.isArray(block.fields)) {
          const fields = el("div", "fields");
          block.fields.forEach((f) => {
            const cell = el("div");
            textObject(f, cell);
            fields.append(cell);
          });
          body.append(fields);
        }
        section.append(body);
        if (block.accessory && block.accessory.type === "button") {
          section.append(button(block.accessory, (e) => onAction(e, block)));
        }
        parent.append(section);
      } else if (block.type === "context") {
        const context = el("div", "block context");
        (block.elements || []).forEach((e, i) => {
          if (i) context.append("  ·  ");
          if (e.type === "image") context.append(e.alt_text || "");
          else textObject(e, context);
        });
        parent.append(context);
      } else if (block.type === "actions") {
        const actions = el("div", "actions");
        (block.elements || []).forEach((e) => {
          if (e.type === "button") actions.append(button(e, (x) => onAction(x, block)));
          else actions.append(el("span", "hint", `[${e.type}]`));
        });
        parent.append(actions);
      } else if (block.type === "input") {
        parent.append(renderInput(block, values));
      } else {
        parent.append(el("div", "block context", `[a ${block.type} block the console does not draw]`));
      }
    });
  }

  // --- panes ------------------------------------------------------------------------------------

  function renderMessage(message, conversation) {
    const author = message.user === state.bot ? null : person(message.user);
    const slackbot = message.user === state.slackbot;
    const row = el("div", "message" + (message.only ? " ephemeral" : ""));
    row.dataset.ts = message.ts;
    const avatar = el("div", "avatar" + (author ? "" : " bot"), author ? author.name[0] : slackbot ? "S" : "M");
    const body = el("div", "body");
    const meta = el("div", "meta");
    meta.append(el("strong", null, author ? author.name : slackbot ? "Slackbot" : "MySafe bot"));
    meta.append(new Date(Number(message.ts.split(".")[0]) * 1000).toLocaleTimeString());
    body.append(meta);
    if (message.only) body.append(el("div", "ephemeral-note", "Only visible to you"));
    if (message.blocks && message.blocks.length) {
      renderBlocks(message.blocks, body, (element, block) => post("/demo/click", {
        where: "message", conversation, ts: message.ts, action_id: element.action_id,
        block_id: block.block_id || "", value: element.value || "",
      }));
    } else {
      const text = el("div", "block");
      mrkdwn(message.text, text);
      body.append(text);
    }
    row.append(avatar, body);
    return row;
  }

  function renderPane() {
    const list = document.getElementById("messages");
    const title = document.getElementById("pane-title");
    const composer = document.getElementById("composer");
    let key;
    if (pane === "home") {
      key = JSON.stringify(["home", me, state.home]);
    } else {
      key = JSON.stringify([pane, me, state[pane].messages]);
    }
    if (key === shown) return;
    shown = key;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren();
    composer.hidden = pane === "home";
    if (pane === "home") {
      title.textContent = "MySafe bot · Home";
      if (!state.home) list.append(el("p", "empty", "Opening the Home tab…"));
      else renderBlocks(state.home.blocks, list, (element, block) => post("/demo/click", {
        where: "home", action_id: element.action_id, block_id: block.block_id || "",
        value: element.value || "",
      }));
      return;
    }
    title.textContent = pane === "channel" ? "# " + state.channel.name : "MySafe bot — direct message";
    const messages = state[pane].messages;
    if (!messages.length) list.append(el("p", "empty", "No messages yet. Type a /mysafe command below."));
    messages.forEach((m) => list.append(renderMessage(m, state[pane].id)));
    if (atBottom || messages.length) list.scrollTop = list.scrollHeight;
  }

  function typedValues() {
    const values = {};
    document.querySelectorAll("#modal .input").forEach((wrap) => {
      const field = wrap.querySelector("input, textarea");
      if (field) values[wrap.dataset.blockId] = field.value;
    });
    return values;
  }

  function showErrors(errors) {
    document.querySelectorAll("#modal .input").forEach((wrap) => {
      const message = errors[wrap.dataset.blockId] || "";
      wrap.classList.toggle("invalid", Boolean(message));
      wrap.querySelector(".error").textContent = message;
    });
  }

  function renderModal() {
    const backdrop = document.getElementById("modal-backdrop");
    const modal = document.getElementById("modal");
    const view = state.modal;
    const key = JSON.stringify([me, view]);
    if (key === shownModal) return;
    const keep = view && shownModal && JSON.parse(shownModal)[1] && JSON.parse(shownModal)[1].id === view.id
      ? typedValues() : {};
    shownModal = key;
    backdrop.hidden = !view;
    modal.replaceChildren();
    if (!view) return;
    const heading = el("h2", null, (view.title && view.title.text) || "");
    heading.id = "modal-title";
    const body = el("form", "modal-body");
    body.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    renderBlocks(view.blocks, body, (element, block) => post("/demo/click", {
      where: "modal", action_id: element.action_id, block_id: block.block_id || "",
      value: element.value || "",
    }), keep);
    const footer = el("div", "modal-footer");
    footer.append(el("span", "modal-failed"));
    const close = el("button", "btn", (view.close && view.close.text) || "Cancel");
    close.type = "button";
    close.addEventListener("click", async () => { await post("/demo/close", {}); refresh(); });
    footer.append(close);
    if (view.submit) {
      const send = el("button", "btn primary", view.submit.text || "Submit");
      send.type = "button";
      send.addEventListener("click", submit);
      footer.append(send);
    }
    modal.append(heading, body, footer);
    const first = modal.querySelector("input, textarea");
    if (first) first.focus();
  }

  async function submit() {
    const answer = await post("/demo/submit", { values: typedValues() });
    if (answer.errors) showErrors(answer.errors);
    const failed = document.querySelector("#modal .modal-failed");
    if (failed) failed.textContent = answer.failed || "";
    refresh();
  }

  function renderPeople() {
    const select = document.getElementById("person");
    if (!select.options.length) {
      state.people.forEach((p) => {
        const option = el("option", null, `${p.name} (${p.role})`);
        option.value = p.id;
        select.append(option);
      });
      select.value = me;
    }
    // Each person reads Slack in their own language, as their Slack profile says.
    document.getElementById("language").value = state.locale || "en-US";
    const who = person(me);
    document.getElementById("role").textContent = who.mysafe
      ? `@${who.handle} · MySafe user ${who.mysafe} · ${who.role}`
      : `@${who.handle} · no MySafe key · ${who.role}`;
    document.querySelectorAll(".nav").forEach((b) => b.classList.toggle("active", b.dataset.pane === pane));
    renderKey(state.key);
  }

  // The viewer's own MySafe key, for a person the demo leaves to link it with /mysafe login.
  function renderKey(key) {
    const box = document.getElementById("key");
    const drawn = JSON.stringify(key || null);
    if (box.dataset.drawn === drawn) return;  // keep a selection made to copy it
    box.dataset.drawn = drawn;
    box.replaceChildren();
    box.hidden = !key;
    if (!key) return;
    box.append(el("p", null, "Your MySafe access key (the sandbox made it for you):"));
    [["Client ID", key.client_id], ["Client Secret", key.client_secret],
     ["Your MySafe username", key.mysafe_username]].forEach(([label, value]) => {
      box.append(el("span", "key-label", label), el("code", "key-value", value));
    });
    box.append(el("p", null, "Type /mysafe login and paste them into the form."));
  }

  // --- polling ----------------------------------------------------------------------------------

  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const response = await fetch(`/demo/state?as=${encodeURIComponent(me || "")}`);
      if (response.ok) {
        state = await response.json();
        renderPeople();
        renderPane();
        renderModal();
      }
    } finally {
      timer = setTimeout(refresh, POLL_MS);
    }
  }

  function choose(nextPane) {
    pane = nextPane;
    shown = "";
    if (pane === "home") post("/demo/home", {}).then(refresh);
    refresh();
  }

  async function start() {
    const first = await (await fetch("/demo/state?as=U0DEMOPRIYA")).json();
    me = first.people[0].id;
    document.getElementById("person").addEventListener("change", (event) => {
      me = event.target.value;
      shown = "";
      shownModal = "";
      choose(pane);
    });
    // A command typed right after a switch is read in the new language, as in Slack:
    // the composer waits for the switch to be told to the bot before it sends.
    let switching = Promise.resolve();
    document.getElementById("language").addEventListener("change", (event) => {
      switching = post("/demo/language", { locale: event.target.value }).catch(() => ({}));
      switching.then(() => { shown = ""; refresh(); });
    });
    document.querySelectorAll(".nav").forEach((b) => b.addEventListener("click", () => choose(b.dataset.pane)));
    document.getElementById("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("command");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      await switching;
      await post("/demo/command", { conversation: state[pane].id, text });
      refresh();
    });
    await refresh();
    // Typed before the first state arrived, Enter would submit the form as a page load.
    document.querySelectorAll("#composer input, #composer button").forEach((c) => { c.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", start);
})();

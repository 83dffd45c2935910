// A small, safe Markdown renderer for model answers.
//
// It builds DOM nodes and puts every piece of model text in with textContent / createTextNode: no
// HTML string is ever parsed, so `<img src=x onerror=…>` is just text. Links keep only http(s) and
// mailto targets (anything else, `javascript:` included, stays as the literal text the model wrote);
// images are never loaded (`![alt](src)` stays text). Supported: paragraphs with line breaks,
// headings, bullet and numbered lists (nested by indentation), block quotes, fenced and indented
// code blocks, horizontal rules, inline code, **strong**, *emphasis*, ~~strike~~, [links](https://…)
// and bare https:// addresses.

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

function el(tag, ...children) {
  const node = document.createElement(tag);
  for (const child of children) node.append(child);
  return node;
}

export function safeHref(raw) {
  const url = raw.trim();
  if (!/^(https?:\/\/|mailto:)/i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return SAFE_SCHEMES.has(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function link(href, children) {
  const a = el("a", ...children);
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return a;
}

// ---- inline ---------------------------------------------------------------------------------

const BARE_URL = /^https?:\/\/[^\s<>"]+/i;

function closing(text, from, delim) {
  // The next `delim` after `from` that closes an emphasis: not preceded by a space.
  let i = text.indexOf(delim, from);
  while (i !== -1) {
    if (i > from && !/\s/.test(text[i - 1])) return i;
    i = text.indexOf(delim, i + 1);
  }
  return -1;
}

function matchBracket(text, open) {
  // Index of the `]` matching the `[` at `open` (nesting allowed), or -1.
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "\\") { i++; continue; }
    if (text[i] === "[") depth++;
    else if (text[i] === "]" && --depth === 0) return i;
  }
  return -1;
}

function matchParen(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) return i;
    else if (text[i] === "\n") return -1;
  }
  return -1;
}

export function renderInline(text, allowLinks = true) {
  const out = [];
  let plain = "";
  const flush = () => { if (plain) { out.push(document.createTextNode(plain)); plain = ""; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === "\\" && i + 1 < text.length && /[\\`*_{}\[\]()#+\-.!~<>|]/.test(text[i + 1])) {
      plain += text[i + 1]; i += 2; continue;
    }
    if (c === "\n") { flush(); out.push(el("br")); i++; continue; }
    if (c === "`") {
      const run = /^`+/.exec(rest)[0];
      const end = text.indexOf(run, i + run.length);
      if (end !== -1) {
        flush();
        out.push(el("code", text.slice(i + run.length, end).replace(/^ (.*) $/s, "$1")));
        i = end + run.length; continue;
      }
      plain += run; i += run.length; continue;
    }
    if (c === "!" && text[i + 1] === "[") {
      // An image: never loaded. Keep what the model wrote, as text.
      const close = matchBracket(text, i + 1);
      if (close !== -1 && text[close + 1] === "(") {
        const end = matchParen(text, close + 1);
        if (end !== -1) { plain += text.slice(i, end + 1); i = end + 1; continue; }
      }
      plain += c; i++; continue;
    }
    if (c === "[" && allowLinks) {
      const close = matchBracket(text, i);
      if (close !== -1 && text[close + 1] === "(") {
        const end = matchParen(text, close + 1);
        if (end !== -1) {
          const href = safeHref(text.slice(close + 2, end).split(/\s+"/)[0]);
          if (href) {
            flush();
            out.push(link(href, renderInline(text.slice(i + 1, close), false)));
          } else {
            plain += text.slice(i, end + 1); // an unsafe or relative target: the literal text
          }
          i = end + 1; continue;
        }
      }
    }
    if (allowLinks && (c === "h" || c === "H") && (i === 0 || !/[\w/]/.test(text[i - 1]))) {
      const m = BARE_URL.exec(rest);
      if (m) {
        const url = m[0].replace(/[.,;:!?)\]'*_]+$/, "");
        const href = safeHref(url);
        if (href) { flush(); out.push(link(href, [url])); i += url.length; continue; }
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] === c) {
      const delim = c + c;
      const end = closing(text, i + 2, delim);
      const wordy = c === "_" && i > 0 && /\w/.test(text[i - 1]);
      if (end !== -1 && !wordy && !/\s/.test(text[i + 2] || " ")) {
        flush();
        out.push(el("strong", ...renderInline(text.slice(i + 2, end), allowLinks)));
        i = end + 2; continue;
      }
    }
    if (c === "~" && text[i + 1] === "~") {
      const end = closing(text, i + 2, "~~");
      if (end !== -1 && !/\s/.test(text[i + 2] || " ")) {
        flush();
        out.push(el("del", ...renderInline(text.slice(i + 2, end), allowLinks)));
        i = end + 2; continue;
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] !== c) {
      const wordy = c === "_" && i > 0 && /\w/.test(text[i - 1]);
      let end = closing(text, i + 1, c);
      while (end !== -1 && text[end + 1] === c) end = closing(text, end + 2, c);
      const after = text[end + 1];
      const closesWord = c === "_" && after !== undefined && /\w/.test(after);
      if (end !== -1 && !wordy && !closesWord && !/\s/.test(text[i + 1] || " ")) {
        flush();
        out.push(el("em", ...renderInline(text.slice(i + 1, end), allowLinks)));
        i = end + 1; continue;
      }
    }
    plain += c; i++;
  }
  flush();
  return out;
}

// ---- blocks ---------------------------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])( *\1){2,}\s*$/;
const BULLET = /^( *)([-*+])\s+(.*)$/;
const ORDERED = /^( *)(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^ {0,3}> ?(.*)$/;

function indentOf(line) { return /^ */.exec(line)[0].length; }

function listItem(line) {
  const m = BULLET.exec(line) || ORDERED.exec(line);
  if (!m) return null;
  return { indent: m[1].length, ordered: /\d/.test(m[2]), start: Number(m[2]) || 1, text: m[3] };
}

function renderList(lines, start) {
  // A list starting at `start`; returns [node, next index].
  const first = listItem(lines[start]);
  const list = el(first.ordered ? "ol" : "ul");
  if (first.ordered && first.start !== 1) list.start = first.start;
  let i = start;
  while (i < lines.length) {
    const item = listItem(lines[i]);
    if (!item || item.indent !== first.indent || item.ordered !== first.ordered) break;
    const body = [item.text];
    i++;
    // Lines indented deeper than the marker (or lazy continuations) belong to this item.
    while (i < lines.length) {
      const line = lines[i];
      if (line.trim() === "") {
        const next = lines[i + 1];
        if (next !== undefined && indentOf(next) > first.indent && next.trim() !== "") { body.push(""); i++; continue; }
        break;
      }
      const nested = listItem(line);
      if (nested && nested.indent <= first.indent) break;
      if (!nested && indentOf(line) <= first.indent && (FENCE.test(line) || HEADING.test(line) || QUOTE.test(line))) break;
      body.push(line.slice(Math.min(indentOf(line), first.indent + 2)));
      i++;
    }
    const li = el("li");
    const blocks = renderBlocks(body, true);
    li.append(...blocks);
    list.append(li);
    if (i < lines.length && lines[i].trim() === "") {
      const next = listItem(lines[i + 1] || "");
      if (next && next.indent === first.indent && next.ordered === first.ordered) i++;
    }
  }
  return [list, i];
}

function renderBlocks(lines, tight = false) {
  const out = [];
  let i = 0;
  let para = [];
  const flushPara = () => {
    if (!para.length) return;
    const text = para.join("\n").trim();
    if (text) out.push(tight && out.length === 0 ? el("span", ...renderInline(text)) : el("p", ...renderInline(text)));
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (line.trim() === "") { flushPara(); i++; continue; }
    if ((m = FENCE.exec(line))) {
      flushPara();
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence)) body.push(lines[i++]);
      i++; // the closing fence (or the end of an unterminated block, as while streaming)
      const code = el("code", body.join("\n"));
      if (m[2]) code.dataset.lang = m[2];
      out.push(el("pre", code));
      continue;
    }
    if (!para.length && /^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || (lines[i].trim() === "" && /^( {4}|\t)/.test(lines[i + 1] || "")))) {
        body.push(lines[i].replace(/^( {4}|\t)/, "")); i++;
      }
      out.push(el("pre", el("code", body.join("\n"))));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      flushPara();
      // Headings inside an answer sit below the bubble's own label: h4–h6 keep the page's outline sane.
      out.push(el(`h${Math.min(6, m[1].length + 3)}`, ...renderInline(m[2])));
      i++; continue;
    }
    if (RULE.test(line)) { flushPara(); out.push(el("hr")); i++; continue; }
    if (QUOTE.test(line)) {
      flushPara();
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])[1]);
      out.push(el("blockquote", ...renderBlocks(body)));
      continue;
    }
    if (listItem(line) && (!para.length || !ORDERED.test(line) || /^ *1[.)]/.test(line))) {
      flushPara();
      const [list, next] = renderList(lines, i);
      out.push(list);
      i = next; continue;
    }
    para.push(line);
    i++;
  }
  flushPara();
  return out;
}

// The answer as a DocumentFragment of safe nodes.
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  fragment.append(...renderBlocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n")));
  return fragment;
}

// netwarden: check a finding's evidence in the browser, trusting nothing the page computed.
//
// From the server's JSON answer (entries, RFC 9162 inclusion proofs, signed checkpoint) this
// recomputes, with WebCrypto SHA-256:
//   leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || left || right)
// checks each leaf hash against the hash the run directory recorded (shown in the page), folds
// the inclusion proof to a root and compares it with the root written in the checkpoint note,
// checks the chain links (match -> observation, verification/attribution -> match) and, where
// the browser supports Ed25519, the checkpoint's signature.
"use strict";

(function () {
  const enc = new TextEncoder();

  function b64ToBytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hexToBytes(h) {
    if (typeof h !== "string" || h.length % 2 || /[^0-9a-f]/i.test(h)) throw new Error("bad hex");
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
    return out;
  }
  function toHex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  async function leafHash(entry) {
    return sha256(concat(new Uint8Array([0]), entry));
  }
  async function nodeHash(l, r) {
    return sha256(concat(new Uint8Array([1]), l, r));
  }

  // RFC 9162 section 2.1.3.2: root from an inclusion proof (numbers stay below 2^53).
  async function rootFromInclusion(leaf, index, size, proof) {
    if (!(index >= 0 && index < size)) throw new Error("index out of range");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Error("proof hash is not 32 bytes");
      if (sn === 0) throw new Error("proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof is too short");
    return r;
  }

  // C2SP signed note carrying a tlog checkpoint: origin, size, base64 root, blank line, sigs.
  function parseCheckpoint(note) {
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("checkpoint has no signature block");
    const body = note.slice(0, split + 1);
    const lines = body.split("\n");
    const size = Number(lines[1]);
    if (!Number.isSafeInteger(size) || String(size) !== lines[1]) throw new Error("bad size");
    const root = b64ToBytes(lines[2]);
    if (root.length !== 32) throw new Error("bad root");
    const sigs = note.slice(split + 2).split("\n").filter((l) => l.startsWith("\u2014 "))
      .map((l) => { const [name, blob] = l.slice(2).split(" "); return { name, blob: b64ToBytes(blob) }; });
    return { origin: lines[0], size, root, body: enc.encode(body), sigs };
  }

  async function checkSignature(cp, key) {
    if (!key) return "no verifier key";
    const sig = cp.sigs.find((s) => s.name === key.name && toHex(s.blob.slice(0, 4)) === key.key_id);
    if (!sig) return "not signed by " + key.name;
    try {
      const k = await crypto.subtle.importKey("raw", b64ToBytes(key.public_key), { name: "Ed25519" }, false, ["verify"]);
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, k, sig.blob.slice(4), cp.body);
      return ok ? "ok" : "BAD SIGNATURE";
    } catch (e) {
      return "not checked (this browser lacks Ed25519)";
    }
  }

  // Words come translated from the page (data-i18n on #proof: English text -> the page's
  // language); a missing entry shows the English text, never nothing.
  let texts = {};
  function t(text, values) {
    let out = Object.prototype.hasOwnProperty.call(texts, text) ? texts[text] : text;
    for (const [k, v] of Object.entries(values || {})) out = out.split("{" + k + "}").join(String(v));
    return out;
  }

  function setCell(row, cls, text, good) {
    const cell = row.querySelector("td." + cls);
    cell.textContent = text;
    cell.className = cls + (good ? " ok" : " bad");
  }

  async function run() {
    const box = document.getElementById("proof");
    if (!box) return;
    const status = document.getElementById("proof-status");
    try { texts = JSON.parse(box.dataset.i18n || "{}"); } catch (e) { texts = {}; }
    let data;
    try {
      const resp = await fetch(box.dataset.proofUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error("server answered " + resp.status);
      data = await resp.json();
    } catch (e) {
      status.textContent = t("Could not load the proof: ") + e.message;
      status.className = "bad";
      return;
    }
    if (!data.checkpoint) {
      status.textContent = t("No signed checkpoint covers these leaves yet; nothing to verify.");
      status.className = "bad";
      return;
    }
    const cp = parseCheckpoint(data.checkpoint.note);
    document.getElementById("checkpoint-note").textContent = data.checkpoint.note;
    const sigState = await checkSignature(cp, data.verifier_key);
    document.getElementById("checkpoint-line").textContent =
      t("Checkpoint: tree size {size}, root {root}, key {key}; signature: {sig}", {
        size: cp.size, root: toHex(cp.root), key: data.verifier_key ? data.verifier_key.vkey : "?",
        sig: sigState.startsWith("not signed by ") ? t("not signed by ") + sigState.slice(14) : t(sigState) });
    const byIndex = new Map(data.leaves.map((l) => [l.index, l]));
    const hashes = {};
    let good = 0, total = 0;
    const entriesBox = document.getElementById("entries");
    for (const row of document.querySelectorAll("table.chain tbody tr")) {
      total++;
      const index = Number(row.dataset.index);
      const leaf = byIndex.get(index);
      if (!leaf || !leaf.entry) { setCell(row, "server", t("missing"), false); setCell(row, "browser", t("missing"), false); continue; }
      setCell(row, "server", leaf.server_verified ? t("verified") : (leaf.problem || t("not verified")), leaf.server_verified);
      try {
        const entry = b64ToBytes(leaf.entry);
        const lh = await leafHash(entry);
        if (!equal(lh, hexToBytes(row.dataset.claimed))) throw new Error("entry does not hash to the recorded leaf hash");
        const root = await rootFromInclusion(lh, index, cp.size, leaf.proof.map(hexToBytes));
        if (!equal(root, cp.root)) throw new Error("proof does not lead to the checkpoint's root");
        const obj = JSON.parse(new TextDecoder().decode(entry));
        hashes[row.dataset.role] = toHex(lh);
        if (row.dataset.role === "match" && hashes.observation && obj.observation_leaf !== hashes.observation) throw new Error("match does not name the observation leaf");
        if ((row.dataset.role === "verification" || row.dataset.role === "attribution") && hashes.match && obj.match_leaf !== hashes.match) throw new Error("does not name the match leaf");
        const pre = document.createElement("pre");
        pre.textContent = t("leaf") + " " + index + " (" + row.dataset.role + "):\n" + JSON.stringify(obj, null, 1);
        entriesBox.appendChild(pre);
        setCell(row, "browser", t("verified in your browser"), true);
        good++;
      } catch (e) {
        setCell(row, "browser", t("FAILED: ") + e.message, false);
      }
    }
    const allGood = good === total && total > 0 && !sigState.startsWith("BAD");
    status.textContent = allGood
      ? t("All {total} leaves verified in your browser against the signed checkpoint of size {size}.", { total, size: cp.size })
      : t("{good} of {total} leaves verified in your browser; see the rows marked FAILED.", { good, total });
    status.className = allGood ? "ok" : "bad";
    box.dataset.verified = allGood ? "true" : "false";
  }

  document.addEventListener("DOMContentLoaded", run);
})();

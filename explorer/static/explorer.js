// charity-ledger explorer: the only script the pages load. It does what the
// browser must do itself, so that a donor need not trust the server:
//  - turn a donor code into its donor tag (the code never leaves the page);
//  - verify a receipt with WebCrypto by the design's four steps
//    (DESIGN.md, "Receipts and proofs (wire)");
//  - hash a dropped document to find the disbursement that cites it;
//  - show times in the viewer's zone, copy buttons, the live block feed.
// Every page works without it; each feature starts only if its elements
// are on the page. Text from the server is always set with textContent.
(function () {
  'use strict';

  var zh = (document.documentElement.lang || 'zh-CN').toLowerCase().indexOf('zh') === 0;
  var T = zh ? {
    verified: '在您的浏览器中已验证',
    failed: '验证失败',
    ok: '通过',
    skipped: '未执行（前一步失败）',
    step: ['收据格式', '交易编号与签名', '包含于区块', '区块哈希与提交签名', '验证者集合'],
    anchored: '信任锚：创世哈希',
    anchoredNote: '（请与民政部门公布的创世哈希核对）',
    checking: '正在验证……',
    notJson: '收据不是有效的 JSON',
    codeLength: function (n) { return '捐赠码有 ' + n + ' 个字符，需要 20 个（五组，每组四个）。'; },
    codeChar: function (p, c) { return '第 ' + p + ' 个字符“' + c + '”不在捐赠码的字符表中。'; },
    hashing: '正在计算文件的 SHA-256……',
    block: '区块',
    txs: '笔交易',
    copied: '已复制',
    copy: '复制'
  } : {
    verified: 'Verified in your browser',
    failed: 'Verification failed',
    ok: 'passed',
    skipped: 'not run (an earlier step failed)',
    step: ['Receipt format', 'Transaction id and signature', 'Inclusion in the block', 'Block hash and commit', 'Validator set'],
    anchored: 'Trust anchor: genesis hash',
    anchoredNote: '(compare it with the one the civil-affairs bureau publishes)',
    checking: 'Verifying…',
    notJson: 'the receipt is not valid JSON',
    codeLength: function (n) { return 'The code has ' + n + ' characters; it needs 20 (five groups of four).'; },
    codeChar: function (p, c) { return 'Character ' + p + ' ("' + c + '") is not used in donor codes.'; },
    hashing: 'Computing the file\'s SHA-256…',
    block: 'block',
    txs: 'transactions',
    copied: 'copied',
    copy: 'copy'
  };

  // ------------------------------------------------------------ bytes

  var enc = new TextEncoder();

  function hexToBytes(h, len, what) {
    if (typeof h !== 'string' || !/^([0-9a-f]{2})*$/.test(h) || (len !== undefined && h.length !== 2 * len)) {
      throw new Error((what || 'value') + ' is not ' + (len ? len + ' bytes of ' : '') + 'lowercase hex');
    }
    var b = new Uint8Array(h.length / 2);
    for (var i = 0; i < b.length; i++) b[i] = parseInt(h.substr(2 * i, 2), 16);
    return b;
  }

  function toHex(b) {
    var s = '';
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  }

  function concat() {
    var n = 0, i;
    for (i = 0; i < arguments.length; i++) n += arguments[i].length;
    var out = new Uint8Array(n), at = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], at); at += arguments[i].length; }
    return out;
  }

  function sha256(bytes) {
    return crypto.subtle.digest('SHA-256', bytes).then(function (d) { return new Uint8Array(d); });
  }

  function tagged(domain, bytes) {
    return sha256(concat(enc.encode(domain), bytes));
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // RFC 8785 for the values the ledger uses (objects, arrays, strings,
  // booleans, integers up to 2^53-1): keys sorted by UTF-16 code units, the
  // rest serialised as ECMAScript's JSON.stringify does, which is what the
  // RFC specifies.
  function jcs(v) {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'boolean': return v ? 'true' : 'false';
      case 'number':
        if (!Number.isSafeInteger(v)) throw new Error('a number that is not a safe integer: ' + v);
        return JSON.stringify(v);
      case 'string': return JSON.stringify(v);
      case 'object':
        if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
        return '{' + Object.keys(v).sort().map(function (k) {
          return JSON.stringify(k) + ':' + jcs(v[k]);
        }).join(',') + '}';
      default: throw new Error('a value JSON cannot carry');
    }
  }

  function ed25519(pubHex, sigHex, msg) {
    var pub = hexToBytes(pubHex, 32, 'public key');
    var sig = hexToBytes(sigHex, 64, 'signature');
    return crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify'])
      .then(function (key) { return crypto.subtle.verify({ name: 'Ed25519' }, key, sig, msg); });
  }

  // RFC 6962 leaf and node hashes.
  function leafHash(data) { return sha256(concat(new Uint8Array([0]), data)); }
  function nodeHash(l, r) { return sha256(concat(new Uint8Array([1]), l, r)); }

  // RFC 9162 2.1.3.2: verify an inclusion path of leaf `index` in a tree
  // of `size` leaves. BigInt, since bit operations on numbers are 32-bit.
  function verifyInclusion(leaf, index, size, path, root) {
    var fn = BigInt(index), sn = BigInt(size) - 1n;
    if (BigInt(index) >= BigInt(size)) return Promise.reject(new Error('index ' + index + ' is outside a block of ' + size));
    return leafHash(leaf).then(function (r) {
      var chain = Promise.resolve(r);
      path.forEach(function (p) {
        chain = chain.then(function (r) {
          if (sn === 0n) throw new Error('the path is too long');
          if ((fn & 1n) === 1n || fn === sn) {
            return nodeHash(p, r).then(function (x) {
              if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
              fn >>= 1n; sn >>= 1n;
              return x;
            });
          }
          return nodeHash(r, p).then(function (x) { fn >>= 1n; sn >>= 1n; return x; });
        });
      });
      return chain.then(function (r) {
        if (sn !== 0n) throw new Error('the path is too short');
        if (!equal(r, root)) throw new Error('the path leads to ' + toHex(r) + ', not the header\'s tx_root');
      });
    });
  }

  // DESIGN.md "Votes and commits (wire)".
  function voteBytes(chainId, height, round, blockHash) {
    var id = enc.encode(chainId).slice(0, 255);
    var nums = new Uint8Array(13);
    var view = new DataView(nums.buffer);
    view.setBigUint64(0, BigInt(height));
    view.setUint32(8, round);
    nums[12] = 2; // precommit
    return concat(enc.encode('charity-ledger/v1/vote\n'), new Uint8Array([id.length]), id, nums, blockHash);
  }

  function powerList(list) {
    return list.map(function (v) { return { pubkey: v.pubkey, power: v.power }; })
      .sort(function (a, b) { return a.pubkey < b.pubkey ? -1 : a.pubkey > b.pubkey ? 1 : 0; });
  }

  // ------------------------------------------------------------ receipts

  // The validator set trusted at `height`: genesis's, then each later
  // `set_validators` change up to that height, each proven by its own
  // receipt against the set trusted before it (DESIGN.md step 4).
  // `history` is /v1/validators/history; `fetchReceipt(id)` fetches one.
  function trustedAt(height, genesis, history, fetchReceipt) {
    var changes = (history || []).filter(function (c) {
      return c && c.tx_id && c.from_height > 1 && c.from_height <= height;
    }).sort(function (a, b) { return a.from_height - b.from_height; });
    var chain = Promise.resolve(powerList(genesis.validators));
    changes.forEach(function (c) {
      chain = chain.then(function (current) {
        return fetchReceipt(c.tx_id).then(function (cr) {
          return verifyAgainst(cr, function () { return Promise.resolve(current); }).then(function (res) {
            if (!res.ok) {
              var bad = res.steps.filter(function (s) { return s.status === 'fail'; })[0];
              throw new Error('the validator change ' + c.tx_id + ' does not verify: ' + (bad ? bad.reason : ''));
            }
            var body = cr.tx && cr.tx.body;
            if (!body || body.kind !== 'set_validators' || cr.height + 1 !== c.from_height) {
              throw new Error('the validator change at height ' + c.from_height + ' is not a set_validators transaction of the block before it');
            }
            return powerList(body.validators);
          });
        });
      });
    });
    return chain;
  }

  // The four steps of DESIGN.md "Receipts and proofs (wire)" against the
  // validator set that `trust()` resolves to, in order; the first failure
  // stops the rest. Resolves to
  // {ok, steps: [{step, status, reason}], genesisHash, blockHash}.
  function verifyReceipt(r, genesis, history, fetchReceipt) {
    var genesisHash = null;
    return tagged('charity-ledger/v1/genesis\n', enc.encode(jcs(genesis))).then(function (gh) {
      genesisHash = toHex(gh);
      return verifyAgainst(r, function () {
        return trustedAt(r.height, genesis, history, fetchReceipt);
      });
    }, function () {
      return verifyAgainst(r, function () { throw new Error('the genesis document cannot be hashed'); });
    }).then(function (res) {
      res.genesisHash = genesisHash;
      return res;
    });
  }

  function verifyAgainst(r, trust) {
    var steps = [];
    var result = { ok: false, steps: steps, genesisHash: null, blockHash: null };
    var h = r && r.header;
    var stepsFns = [
      // 1. tx_id is the hash of JCS(body); the signature verifies under the
      //    signer; the transaction is for this chain.
      function () {
        var body = r.tx.body;
        return tagged('charity-ledger/v1/tx\n', enc.encode(jcs(body))).then(function (id) {
          if (toHex(id) !== r.tx_id) throw new Error('the body hashes to ' + toHex(id) + ', the receipt says ' + r.tx_id);
          return ed25519(body.signer, r.tx.sig, id);
        }).then(function (good) {
          if (!good) throw new Error('the signature does not verify under ' + body.signer);
          if (body.chain_id !== h.chain_id) throw new Error('the transaction is for ' + body.chain_id + ', the block for ' + h.chain_id);
        });
      },
      // 2. The inclusion path takes leaf(tx_id) at index of tx_count to
      //    tx_root.
      function () {
        if (r.height !== h.height) throw new Error('receipt height ' + r.height + ', header height ' + h.height);
        if (!Array.isArray(r.inclusion)) throw new Error('no inclusion path');
        var path = r.inclusion.map(function (x) { return hexToBytes(x, 32, 'inclusion hash'); });
        return verifyInclusion(hexToBytes(r.tx_id, 32, 'tx_id'), r.index, h.tx_count, path, hexToBytes(h.tx_root, 32, 'tx_root'));
      },
      // 3. block_hash = hash of JCS(header); the validators hash to
      //    validators_hash; precommits carry more than 2/3 of the power.
      function () {
        var blockHash;
        return tagged('charity-ledger/v1/block\n', enc.encode(jcs(h))).then(function (bh) {
          blockHash = bh;
          result.blockHash = toHex(bh);
          return tagged('charity-ledger/v1/validators\n', enc.encode(jcs(r.validators.map(function (v) {
            return { pubkey: v.pubkey, power: v.power };
          }))));
        }).then(function (vh) {
          if (toHex(vh) !== h.validators_hash) throw new Error('the validators hash to ' + toHex(vh) + ', the header says ' + h.validators_hash);
          var msg = voteBytes(h.chain_id, h.height, r.commit.round, blockHash);
          var total = 0n, signed = 0n, seen = {};
          r.validators.forEach(function (v) { total += BigInt(v.power); });
          var checks = r.commit.signatures.map(function (s) {
            var v = r.validators.filter(function (x) { return x.pubkey === s.validator; })[0];
            if (!v) throw new Error(s.validator + ' is not in the validator set');
            if (seen[s.validator]) throw new Error(s.validator + ' signs twice');
            seen[s.validator] = true;
            return ed25519(s.validator, s.sig, msg).then(function (good) {
              if (!good) throw new Error('the precommit of ' + s.validator + ' does not verify');
              signed += BigInt(v.power);
            });
          });
          return Promise.all(checks).then(function () {
            if (signed * 3n <= total * 2n) throw new Error('precommits carry ' + signed + ' of ' + total + ' power; more than 2/3 is needed');
          });
        });
      },
      // 4. The validators are those trusted from genesis and the changes
      //    proven since.
      function () {
        return Promise.resolve().then(trust).then(function (trusted) {
          if (jcs(powerList(r.validators)) !== jcs(powerList(trusted))) {
            throw new Error('the receipt\'s validator set differs from the one proven from genesis');
          }
        });
      }
    ];
    var failed = false;
    var chain = Promise.resolve();
    stepsFns.forEach(function (fn, i) {
      chain = chain.then(function () {
        if (failed) { steps.push({ step: i + 1, status: 'skipped', reason: '' }); return; }
        return Promise.resolve().then(fn).then(function () {
          steps.push({ step: i + 1, status: 'pass', reason: '' });
        }, function (e) {
          failed = true;
          steps.push({ step: i + 1, status: 'fail', reason: (e && e.message) || String(e) });
        });
      });
    });
    return chain.then(function () { result.ok = !failed; return result; });
  }

  function render(container, result) {
    container.textContent = '';
    var v = document.createElement('p');
    v.className = 'verdict';
    v.setAttribute('data-verdict', result.ok ? 'pass' : 'fail');
    v.textContent = (result.ok ? '✔ ' : '✘ ') + (result.ok ? T.verified : T.failed);
    container.appendChild(v);
    var ol = document.createElement('ol');
    ol.className = 'steps';
    result.steps.forEach(function (s) {
      var li = document.createElement('li');
      li.className = s.status;
      if (s.step > 0) li.value = s.step;
      var detail = s.status === 'pass' ? T.ok : s.status === 'skipped' ? T.skipped : s.reason;
      li.textContent = T.step[s.step] + ': ' + detail;
      ol.appendChild(li);
    });
    container.appendChild(ol);
    if (result.genesisHash) {
      var g = document.createElement('p');
      g.className = 'anchor';
      var code = document.createElement('code');
      code.textContent = result.genesisHash;
      g.appendChild(document.createTextNode(T.anchored + ' '));
      g.appendChild(code);
      g.appendChild(document.createTextNode(' ' + T.anchoredNote));
      container.appendChild(g);
    }
  }

  function fetchJson(url) {
    return fetch(url, { headers: { accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (v) {
        if (!r.ok) throw new Error((v && v.message) || (url + ': ' + r.status));
        return v;
      });
    });
  }

  function verifyInto(container, receiptPromise) {
    container.textContent = T.checking;
    var fetchReceipt = function (id) {
      if (!/^[0-9a-f]{64}$/.test(id)) return Promise.reject(new Error('a malformed transaction id'));
      return fetchJson('/v1/txs/' + id + '/receipt');
    };
    return Promise.all([receiptPromise, fetchJson('/v1/genesis'), fetchJson('/v1/validators/history')]).then(function (all) {
      return verifyReceipt(all[0], all[1], all[2], fetchReceipt);
    }).then(function (result) {
      render(container, result);
    }, function (e) {
      render(container, { ok: false, steps: [{ step: 0, status: 'fail', reason: (e && e.message) || String(e) }] });
    });
  }

  // ------------------------------------------------------------ donor codes

  var ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

  // Reads a code as the ledger does: case, spaces and dashes do not
  // matter; O reads as 0, I and L as 1.
  function parseCode(s) {
    var chars = [];
    for (var i = 0; i < s.length; i++) {
      var c = s[i];
      if (c === '-' || /\s/.test(c)) continue;
      c = c.toUpperCase();
      if (c === 'O') c = '0';
      if (c === 'I' || c === 'L') c = '1';
      if (ALPHABET.indexOf(c) < 0 || c.length !== 1) throw new Error(T.codeChar(chars.length + 1, s[i]));
      chars.push(c);
      if (chars.length > 20) break;
    }
    if (chars.length !== 20) throw new Error(T.codeLength(chars.length));
    var groups = [];
    for (var j = 0; j < 20; j += 4) groups.push(chars.slice(j, j + 4).join(''));
    return groups.join('-');
  }

  function donorTag(code) {
    var grouped;
    try { grouped = parseCode(code); } catch (e) { return Promise.reject(e); }
    return tagged('charity-ledger/v1/donor\n', enc.encode(grouped)).then(toHex);
  }

  function langSuffix() {
    var m = /[?&]lang=(en|zh)\b/.exec(location.search);
    return m ? '?lang=' + m[1] : '';
  }

  // ------------------------------------------------------------ wiring

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  // Event times (blocks, payments, reports) in the viewer's zone; calendar
  // dates (campaign windows, filing days) stay the China dates the rules
  // count in, as the server wrote them.
  function localTimes() {
    each('[data-ms]:not([data-format="date"])', function (el) {
      var ms = Number(el.getAttribute('data-ms'));
      if (!Number.isFinite(ms)) return;
      var d = new Date(ms);
      var lang = zh ? 'zh-CN' : 'en';
      el.title = el.textContent;
      el.textContent = d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
    });
  }

  // Copy buttons only work with the script, so it is the script that
  // shows them.
  function copyButtons() {
    each('button.copy[data-copy]', function (b) {
      b.textContent = T.copy;
      b.hidden = false;
    });
    document.addEventListener('click', function (ev) {
      var b = ev.target.closest && ev.target.closest('button.copy[data-copy]');
      if (!b) return;
      ev.preventDefault();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(b.getAttribute('data-copy')).then(function () {
          b.classList.add('copied');
          b.title = T.copied;
          setTimeout(function () { b.classList.remove('copied'); }, 1200);
        }, function () {});
      }
    });
  }

  function donorForm() {
    var form = document.getElementById('donor-form');
    var input = document.getElementById('donor-code');
    var err = document.getElementById('donor-error');
    if (!form || !input) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (err) err.textContent = '';
      donorTag(input.value).then(function (tag) {
        location.href = '/donors/' + tag + langSuffix();
      }, function (e) {
        if (err) err.textContent = e.message;
      });
    });
  }

  function searchForm() {
    var form = document.getElementById('search-form');
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      var q = (form.elements.q && form.elements.q.value || '').trim();
      // A donor code (upper case or in groups) is hashed here, never sent.
      var looksLikeCode = /^[0-9A-Za-z]{4}([- ]?[0-9A-Za-z]{4}){4}$/.test(q) && (/[A-Z]/.test(q) || /-/.test(q));
      if (!looksLikeCode) return;
      var grouped;
      try { grouped = parseCode(q); } catch (_) { return; }
      ev.preventDefault();
      donorTag(grouped).then(function (tag) { location.href = '/donors/' + tag + langSuffix(); });
    });
  }

  function evidence() {
    var drop = document.getElementById('evidence-drop');
    var input = document.getElementById('evidence-file');
    var status = document.getElementById('evidence-status');
    if (!drop && !input) return;
    function check(file) {
      if (!file) return;
      if (status) status.textContent = T.hashing;
      file.arrayBuffer().then(sha256).then(function (h) {
        location.href = '/evidence/' + toHex(h) + langSuffix();
      }, function (e) {
        if (status) status.textContent = (e && e.message) || String(e);
      });
    }
    if (input) input.addEventListener('change', function () { check(input.files && input.files[0]); });
    if (drop) {
      drop.addEventListener('dragover', function (ev) { ev.preventDefault(); drop.classList.add('over'); });
      drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
      drop.addEventListener('drop', function (ev) {
        ev.preventDefault();
        drop.classList.remove('over');
        check(ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0]);
      });
    }
  }

  function verifyButtons() {
    each('button.verify[data-tx]', function (b) {
      b.addEventListener('click', function () {
        var id = b.getAttribute('data-tx');
        var target = document.getElementById(b.getAttribute('data-target'));
        if (!target || !/^[0-9a-f]{64}$/.test(id)) return;
        verifyInto(target, fetchJson('/v1/txs/' + id + '/receipt'));
      });
    });
    var text = document.getElementById('receipt-text');
    var button = document.getElementById('verify-pasted');
    var out = document.getElementById('verify-result');
    if (text && button && out) {
      button.addEventListener('click', function () {
        var parsed;
        try {
          parsed = JSON.parse(text.value);
        } catch (e) {
          render(out, { ok: false, steps: [{ step: 0, status: 'fail', reason: T.notJson + ': ' + e.message }] });
          return;
        }
        verifyInto(out, Promise.resolve(parsed));
      });
    }
  }

  function liveFeed() {
    var ul = document.getElementById('live-feed');
    if (!ul || typeof EventSource === 'undefined') return;
    var es = new EventSource('/v1/events');
    es.addEventListener('open', function () { ul.setAttribute('data-live', 'on'); });
    es.addEventListener('block', function (ev) {
      var b;
      try { b = JSON.parse(ev.data); } catch (_) { return; }
      if (!b || typeof b.height !== 'number') return;
      each('#live-feed li.waiting', function (w) { w.remove(); });
      var li = document.createElement('li');
      var a = document.createElement('a');
      a.href = '/blocks/' + b.height;
      a.textContent = T.block + ' ' + b.height;
      li.appendChild(a);
      var ids = Array.isArray(b.tx_ids) ? b.tx_ids : [];
      li.appendChild(document.createTextNode(' · ' + ids.length + ' ' + T.txs + ' · ' + new Date(b.time).toLocaleTimeString(zh ? 'zh-CN' : 'en') + ' '));
      ids.slice(0, 3).forEach(function (id) {
        if (!/^[0-9a-f]{64}$/.test(id)) return;
        var t = document.createElement('a');
        t.href = '/txs/' + id;
        t.textContent = id.slice(0, 8) + '… ';
        li.appendChild(t);
      });
      ul.insertBefore(li, ul.firstChild);
      while (ul.children.length > 20) ul.removeChild(ul.lastChild);
    });
  }

  window.charity = { donorTag: donorTag, verifyReceipt: verifyReceipt, jcs: jcs };

  function start() {
    localTimes();
    copyButtons();
    donorForm();
    searchForm();
    evidence();
    verifyButtons();
    liveFeed();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

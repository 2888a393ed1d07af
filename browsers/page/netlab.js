// netlab.js: the JS reference peer of netlab (issue 5). Plain modern JS, no
// build step, nothing loaded from outside. It mirrors the Go peer (peer/*.go)
// and speaks the signaling protocol of PROTOCOL.md plus this project's
// additions (README.md "Peers and signaling") over WebSocket, SSE (fetch
// streaming + POST) or a bridge to a Go signaling client (signal-out events
// out, netlab.deliver in).
//
//   Go (ChromePeer) ──Runtime.evaluate──▶ window.netlab.start/createDataChannel/...
//   page ──netlabEvent(json) binding──▶ Go: state, channel-open, message, stats, ...
//
//   transport (ws | sse | bridge) ─▶ dispatch ─▶ offer/answer/candidates (neg mutex)
//                                            ├▶ PairLock (lockRequest/lockResponse {seq, epoch})
//                                            └▶ heartbeat, bye
//
// Client-only mode (netlab.startClient, clientSend, clientClose): the same
// transports without a peer connection, every message received reported
// as a signal-in event (Go's browsers.ChromeClient).
//
// Every rejection's message starts with a code in brackets: [closed],
// [timeout], [unsupported], [bad-config], [negotiation], [channel-closed],
// [not-found]; clientSend adds [too-large] and [malformed] (the server's
// 413 and 400).
'use strict';
(() => {
  // The protocol version this page was built for; ?version=V overrides it.
  const PAGE_VERSION = new URLSearchParams(location.search).get('version') || '1';

  const HB_LABEL = 'netlab-heartbeat';
  const HB_ID = 1023;
  const RESTART_BACKOFF_MIN = 250;
  const RESTART_BACKOFF_MAX = 5000;
  const RESTART_WAIT = 35000; // Chrome's ICE gives up after about 30 s
  const DEFAULT_WAIT = 30000; // bound on waits that have no caller deadline
  const QUEUE_LIMIT = 256;
  const BYE_TIMEOUT = 1000;
  const MAX_BUFFERED = 1 << 20;
  const LOW_BUFFERED = 256 << 10;
  const MAX_REMOTE_CANDS = 512;

  // ---------------------------------------------------------------- helpers

  class NetlabError extends Error {
    constructor(code, msg) {
      super(`[${code}] ${msg}`);
      this.code = code;
      this.name = 'NetlabError';
    }
  }
  const fail = (code, msg) => new NetlabError(code, msg);
  const errText = (e) => (e && e.message) ? e.message : String(e);

  function deferred() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {}); // a deferred nobody awaits must not be an unhandled rejection
    return { promise, resolve, reject };
  }

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  // withTimeout rejects with [timeout] what after ms.
  function withTimeout(p, ms, what) {
    let t;
    const to = new Promise((_, rej) => { t = setTimeout(() => rej(fail('timeout', `${what} within ${ms} ms`)), ms); });
    return Promise.race([p, to]).finally(() => clearTimeout(t));
  }

  function b64encode(bytes) {
    let s = '';
    const chunk = 0x8000;
    for (let i = 0; i < bytes.length; i += chunk) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
    }
    return btoa(s);
  }
  function b64decode(s) {
    const bin = atob(s || '');
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const utf8 = new TextEncoder();

  function sdpUfrag(sdp) {
    for (const line of (sdp || '').split('\n')) {
      const l = line.trim();
      if (l.startsWith('a=ice-ufrag:')) return l.slice('a=ice-ufrag:'.length);
    }
    return '';
  }
  function sdpHasUfrag(sdp, u) {
    return (sdp || '').split('\n').some((line) => line.trim() === 'a=ice-ufrag:' + u);
  }
  function candidateUfrag(line) {
    const f = (line || '').trim().split(/\s+/);
    for (let i = 8; i + 1 < f.length; i += 2) if (f[i] === 'ufrag') return f[i + 1];
    return '';
  }
  const hasApplication = (sdp) => !!sdp && (sdp.startsWith('m=application') || sdp.includes('\nm=application'));

  // Mutex runs async functions one at a time, in call order.
  class Mutex {
    constructor() { this.tail = Promise.resolve(); }
    run(fn) {
      const p = this.tail.then(fn);
      this.tail = p.catch(() => {});
      return p;
    }
  }

  // ---------------------------------------------------------------- events

  let evSeq = 0;
  function sendEvent(ev) {
    ev.at = ev.at || (performance.timeOrigin + performance.now());
    ev.seq = ++evSeq;
    if (typeof window.netlabEvent === 'function') {
      try {
        window.netlabEvent(JSON.stringify(ev));
      } catch (e) {
        console.error('netlabEvent failed:', e);
      }
    }
  }

  // ---------------------------------------------------------------- transports

  // Base of the ws and sse clients: reconnect with jittered backoff, queue
  // what is sent while down (bounded), report state changes.
  class RemoteClient {
    constructor(id, url, onMessage, onState) {
      this.id = id;
      this.url = url.replace(/\/+$/, '');
      this.onMessage = onMessage;
      this.onState = onState;
      this.queue = [];
      this.closed = false;
      this.connected = false;
      this.attempt = 0;
      this.connectedWaiters = [];
    }
    setState(s) {
      this.connected = s === 'connected';
      if (this.connected) {
        for (const w of this.connectedWaiters) w.resolve();
        this.connectedWaiters = [];
      }
      this.onState(s);
    }
    waitConnected() {
      if (this.connected) return Promise.resolve();
      if (this.closed) return Promise.reject(fail('closed', 'signaling client closed'));
      const d = deferred();
      this.connectedWaiters.push(d);
      return d.promise;
    }
    backoff() {
      const base = Math.min(5000, 50 * Math.pow(2, this.attempt));
      this.attempt++;
      return base - Math.random() * base * 0.5;
    }
    start() { this.loop(); }
    async loop() {
      while (!this.closed) {
        this.setState('connecting');
        let retry = null;
        try {
          retry = await this.session();
        } catch (e) {
          // the session says why it ended in the state change below
        }
        if (this.closed) break;
        const wait = retry != null ? retry : this.backoff();
        this.setState('disconnected');
        await sleep(wait);
      }
      this.setState('closed');
      for (const w of this.connectedWaiters) w.reject(fail('closed', 'signaling client closed'));
      this.connectedWaiters = [];
    }
    // send delivers m now, or queues it while down.
    send(m) {
      if (this.closed) return Promise.reject(fail('closed', 'signaling client closed'));
      if (!this.connected) {
        if (this.queue.length >= QUEUE_LIMIT) {
          return Promise.reject(fail('closed', `${this.queue.length} messages waiting for ${this.id}'s signaling to reconnect`));
        }
        const d = deferred();
        this.queue.push({ m, d });
        return d.promise;
      }
      return this.deliver(m);
    }
    flushQueue() {
      const q = this.queue;
      this.queue = [];
      for (const { m, d } of q) this.deliver(m).then(d.resolve, d.reject);
    }
    handleRaw(text) {
      let m;
      try {
        m = JSON.parse(text);
      } catch (e) {
        sendEvent({ type: 'error', detail: `signaling: a bad message from the server: ${errText(e)}` });
        return;
      }
      this.received(m);
    }
    // received takes every message from the server. The first, the
    // server's listing (from = to = our id), says the id is registered:
    // only then is the client connected and its queue sent. A WebSocket's
    // open, or an event stream's headers, come before the server has
    // registered the id (the Go client waits for the listing too), and a
    // message sent to us in between is refused as unknown-recipient.
    received(m) {
      if (!this.connected && m && m.type === 'listing' && m.from === this.id && m.to === this.id) {
        this.attempt = 0;
        this.setState('connected');
        this.flushQueue();
      }
      this.onMessage(m);
    }
  }

  class WSClient extends RemoteClient {
    session() {
      return new Promise((resolve) => {
        let ws;
        try {
          ws = new WebSocket(`${this.url}/${encodeURIComponent(this.id)}`);
        } catch (e) {
          resolve(null);
          return;
        }
        this.ws = ws;
        // Connected once the server's listing arrives (received), not at
        // open: the server registers the id after the upgrade.
        ws.onmessage = (e) => this.handleRaw(typeof e.data === 'string' ? e.data : '');
        ws.onclose = (e) => {
          this.ws = null;
          this.connected = false;
          // 1012: service restart, the reason says when to retry.
          let retry = null;
          const m = /retry after (\d+)ms/.exec(e.reason || '');
          if (e.code === 1012 && m) retry = Number(m[1]);
          resolve(retry);
        };
      });
    }
    deliver(m) {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        // Down between the check and now: queue it for the next session.
        this.connected = false;
        return this.send(m);
      }
      ws.send(JSON.stringify(m));
      return Promise.resolve();
    }
    close() {
      this.closed = true;
      if (this.ws) this.ws.close(1000, 'bye');
    }
  }

  // SSE through fetch streaming (EventSource only delivers named events to
  // listeners of each name, and every message type is an event name here).
  class SSEClient extends RemoteClient {
    constructor(...a) {
      super(...a);
      this.chain = Promise.resolve(); // one POST at a time keeps sends in order
    }
    async session() {
      this.abort = new AbortController();
      const resp = await fetch(`${this.url}/messages/${encodeURIComponent(this.id)}`, {
        signal: this.abort.signal, headers: { Accept: 'text/event-stream' }, cache: 'no-store',
      });
      if (!resp.ok || !resp.body) throw new Error(`GET /messages: ${resp.status}`);
      // The stream's session token: every POST carries it, so that a
      // server that requires it (the lab's) knows the POST is ours.
      this.token = resp.headers.get('X-Netlab-Session') || '';
      // Connected once the server's listing arrives (received).
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let data = [];
      let retry = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            if (data.length) this.handleSSE(data.join('\n'));
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          let val = i < 0 ? '' : line.slice(i + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'data') data.push(val);
          else if (field === 'retry' && /^\d+$/.test(val)) retry = Number(val);
        }
      }
      this.connected = false;
      return retry;
    }
    handleSSE(text) {
      let m;
      try {
        m = JSON.parse(text);
      } catch (e) {
        sendEvent({ type: 'error', detail: `signaling: a bad SSE event: ${errText(e)}` });
        return;
      }
      if (m.type === 'ping' && m.from === this.id && m.to === this.id) {
        this.post({ from: this.id, to: this.id, type: 'pong', data: m.data }).catch(() => {});
        return;
      }
      this.received(m);
    }
    post(m) {
      // The session header makes the POST preflighted; the server's
      // Access-Control-Max-Age lets Chrome reuse the preflight.
      const headers = this.token ? { 'X-Netlab-Session': this.token } : {};
      return fetch(`${this.url}/message`, { method: 'POST', body: JSON.stringify(m), headers, cache: 'no-store' })
        .then(async (r) => {
          if (!r.ok) {
            const body = await r.text().catch(() => '');
            const e = fail(r.status === 404 ? 'not-found' : 'negotiation', `POST /message ${m.type} to ${m.to}: ${r.status} ${body.trim()}`);
            e.status = r.status;
            throw e;
          }
        });
    }
    deliver(m) {
      const p = this.chain.then(() => this.post(m));
      this.chain = p.catch(() => {});
      return p;
    }
    close() {
      this.closed = true;
      if (this.abort) this.abort.abort();
    }
  }

  // Bridge: messages out as signal-out events (the Go side's client sends
  // them, in order), in through netlab.deliver.
  class BridgeClient {
    constructor(id, onMessage, onState) {
      this.id = id;
      this.onMessage = onMessage;
      this.onState = onState;
      this.closed = false;
      this.connected = true;
    }
    start() { this.onState('connected'); }
    waitConnected() { return Promise.resolve(); }
    send(m) {
      if (this.closed) return Promise.reject(fail('closed', 'bridge closed'));
      sendEvent({ type: 'signal-out', msg: JSON.stringify(m) });
      return Promise.resolve();
    }
    deliver(raw) {
      if (this.closed) return;
      const m = typeof raw === 'string' ? JSON.parse(raw) : raw;
      this.onMessage(m);
    }
    close() {
      if (this.closed) return;
      this.closed = true;
      this.connected = false;
      this.onState('closed');
    }
  }

  // ---------------------------------------------------------------- pair lock

  // PairLock is the pair mutex of PROTOCOL.md, as peer/lock.go does it:
  // calls queue locally and run one at a time; the head sends lockRequest
  // {seq, epoch} and waits for a lockResponse echoing it (or carrying no
  // data), within timeoutMs; a lockRequest is answered at once unless we
  // hold the lock, or wait for ours and are the impolite side (then at
  // release). Sends go out in decision order (the transport keeps order).
  class PairLock {
    constructor(local, remote, timeoutMs, send) {
      this.local = local;
      this.remote = remote;
      this.timeoutMs = timeoutMs;
      this.send = send;
      this.polite = local < remote;
      this.epoch = Date.now().toString(36) + '.' + Math.random().toString(36).slice(2, 10);
      this.queue = [];
      this.seq = 0;
      this.cur = null;
      this.holding = false;
      this.deferredReqs = [];
      this.closed = false;
    }
    // acquire runs body under the lock; signal (an AbortSignal) gives up.
    async acquire(body, signal) {
      if (this.closed) throw fail('closed', `lock ${this.local}-${this.remote} closed`);
      const turn = { ready: deferred() };
      this.queue.push(turn);
      if (this.queue.length === 1) turn.ready.resolve();
      const onAbort = () => {
        turn.ready.reject(fail('closed', 'lock wait canceled'));
        if (turn.req) turn.req.grant.reject(fail('closed', 'lock wait canceled'));
      };
      if (signal) signal.addEventListener('abort', onAbort);
      try {
        try {
          await turn.ready.promise;
        } catch (e) {
          this.remove(turn);
          throw e;
        }
        if (this.closed) {
          this.remove(turn);
          throw fail('closed', `lock ${this.local}-${this.remote} closed`);
        }
        const req = this.request(turn);
        const timer = setTimeout(() => req.grant.reject(fail('timeout', `${this.local} got no lockResponse from ${this.remote} within ${this.timeoutMs} ms`)), this.timeoutMs);
        try {
          await req.grant.promise;
        } catch (e) {
          if (this.giveUp(turn, req)) throw e;
          // granted meanwhile: we hold it
        } finally {
          clearTimeout(timer);
        }
      } finally {
        if (signal) signal.removeEventListener('abort', onAbort);
      }
      try {
        return await body();
      } finally {
        this.release(turn);
      }
    }
    request(turn) {
      this.seq++;
      const req = { seq: this.seq, granted: false, grant: deferred() };
      turn.req = req;
      this.cur = req;
      this.send('lockRequest', { seq: req.seq, epoch: this.epoch }).catch((e) => {
        if (this.cur === req && !req.granted) req.grant.reject(fail(e.code || 'closed', `sending lockRequest to ${this.remote}: ${errText(e)}`));
      });
      return req;
    }
    // waiting counts the calls queued or waiting for a lockResponse (not
    // one that holds the lock), as peer/lock.go's Waiting does.
    waiting() {
      return this.holding ? this.queue.length - 1 : this.queue.length;
    }
    giveUp(turn, req) {
      if (req.granted) return false;
      if (this.cur === req) this.cur = null;
      this.answerDeferred();
      this.remove(turn);
      return true;
    }
    release(turn) {
      this.holding = false;
      this.cur = null;
      this.answerDeferred();
      this.remove(turn);
    }
    remove(turn) {
      const i = this.queue.indexOf(turn);
      if (i < 0) return;
      this.queue.splice(i, 1);
      if (i === 0 && this.queue.length > 0) this.queue[0].ready.resolve();
    }
    answerDeferred() {
      const d = this.deferredReqs;
      this.deferredReqs = [];
      if (this.closed) return;
      for (const data of d) this.respond(data);
    }
    respond(data) {
      this.send('lockResponse', data).catch(() => {}); // a lost response: the remote times out
    }
    onRequest(data) {
      if (this.closed) return;
      if (this.holding || (this.cur && !this.polite)) {
        if (this.deferredReqs.length >= 256) this.deferredReqs.shift();
        this.deferredReqs.push(data);
        return;
      }
      this.respond(data);
    }
    onResponse(data) {
      const req = this.cur;
      if (this.closed || !req || req.granted) return;
      if (data != null) {
        if (typeof data !== 'object' || data.seq !== req.seq || data.epoch !== this.epoch) return;
      }
      req.granted = true;
      this.holding = true;
      req.grant.resolve();
    }
    close() {
      this.closed = true;
      this.deferredReqs = [];
      for (const t of this.queue) {
        t.ready.reject(fail('closed', 'lock closed'));
        if (t.req && !t.req.granted) t.req.grant.reject(fail('closed', 'lock closed'));
      }
    }
  }

  // ---------------------------------------------------------------- heartbeat

  // Heartbeat as peer/heartbeat.go: a beat on every path every interval; a
  // path silent for timeout past the beat that was due (interval+timeout
  // after the last beat heard) raises heartbeat-timeout; heard again,
  // heartbeat-recovered.
  class Heartbeat {
    constructor(cfg) {
      this.interval = cfg.intervalMs;
      this.timeout = cfg.timeoutMs;
      this.disabled = !!cfg.disabled;
      this.paths = new Map();
      this.running = false;
      this.timer = null;
    }
    addPath(name, send) {
      const now = Date.now();
      let p = this.paths.get(name);
      if (!p) { p = { name, seq: 0 }; this.paths.set(name, p); }
      Object.assign(p, { send, nextSend: now, lastHeard: now, silent: false });
      this.wake();
    }
    removePath(name) { this.paths.delete(name); this.wake(); }
    received(name) {
      const p = this.paths.get(name);
      if (!p || !this.running) return;
      const now = Date.now();
      if (p.silent) {
        p.silent = false;
        sendEvent({ type: 'heartbeat-recovered', path: name, sinceMs: p.lastHeard, durationMs: now - p.lastHeard });
      }
      p.lastHeard = now;
      this.wake();
    }
    start() {
      if (this.running || this.disabled || this.stopped) return;
      this.running = true;
      const now = Date.now();
      for (const p of this.paths.values()) Object.assign(p, { nextSend: now, lastHeard: now, silent: false });
      this.wake();
    }
    stop() {
      this.running = false;
      this.stopped = true;
      clearTimeout(this.timer);
    }
    wake() {
      if (!this.running) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.tick(), 0);
    }
    tick() {
      if (!this.running) return;
      const now = Date.now();
      let next = now + this.timeout;
      for (const p of this.paths.values()) {
        if (now >= p.nextSend) {
          p.seq++;
          const payload = JSON.stringify({ seq: p.seq, path: p.name });
          try {
            Promise.resolve(p.send(payload)).catch(() => {}); // a lost beat is what the remote's timeout is for
          } catch (e) { /* ditto */ }
          p.nextSend += this.interval;
          if (p.nextSend <= now) p.nextSend = now + this.interval;
        }
        const deadline = p.lastHeard + this.interval + this.timeout;
        if (!p.silent && now >= deadline) {
          p.silent = true;
          sendEvent({ type: 'heartbeat-timeout', path: p.name, sinceMs: p.lastHeard, durationMs: now - p.lastHeard });
        }
        if (p.nextSend < next) next = p.nextSend;
        if (!p.silent && deadline < next) next = deadline;
      }
      this.timer = setTimeout(() => this.tick(), Math.max(0, next - Date.now()));
    }
  }

  // ---------------------------------------------------------------- media

  // fakeTrack makes a MediaStreamTrack of kind: Chrome's fake capture
  // device (--use-fake-device-for-media-stream), else a canvas or WebAudio
  // source.
  async function fakeTrack(kind) {
    try {
      const s = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: true } : { video: { width: 320, height: 240 } });
      const t = s.getTracks()[0];
      if (t) return { track: t, stop: () => t.stop() };
    } catch (e) {
      // no fake device: generate
    }
    if (kind === 'video') {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const g = canvas.getContext('2d');
      let n = 0;
      const timer = setInterval(() => {
        n++;
        g.fillStyle = `hsl(${(n * 7) % 360},70%,50%)`;
        g.fillRect(0, 0, 320, 240);
        g.fillStyle = '#fff';
        g.fillRect((n * 5) % 320, (n * 3) % 240, 40, 40);
        g.fillText(String(n), 10, 20);
      }, 33);
      const t = canvas.captureStream(30).getVideoTracks()[0];
      return { track: t, stop: () => { clearInterval(timer); t.stop(); } };
    }
    const ac = new AudioContext();
    const osc = ac.createOscillator();
    const dst = ac.createMediaStreamDestination();
    osc.connect(dst);
    osc.start();
    ac.resume().catch(() => {});
    const t = dst.stream.getAudioTracks()[0];
    return { track: t, stop: () => { t.stop(); osc.stop(); ac.close(); } };
  }

  // ---------------------------------------------------------------- the peer

  class Peer {
    constructor(cfg) {
      this.cfg = cfg;
      this.id = cfg.id;
      this.remoteId = cfg.remoteId;
      this.polite = cfg.id < cfg.remoteId;
      this.perfect = cfg.glare === 'perfect';
      this.neg = new Mutex();
      this.states = {};
      this.history = [];
      this.closed = false;
      this.bye = false;
      this.ops = 0;
      this.exchanges = 0;
      this.offerWait = null;
      this.ignoreOffer = false;
      this.restartPending = false;
      this.negNeeded = false;
      this.negotiating = false;
      this.kickAgain = false;
      this.remoteCands = [];
      this.descSent = true;
      this.candBuf = [];
      this.localUfrag = '';
      this.local = []; // channels created here: {dc, label, opts}
      this.remote = []; // channels the remote created
      this.accept = new Map(); // label -> {ready: [entry], waiters: [deferred]}
      this.hbDC = null;
      this.hbHeard = false;
      this.senders = [];
      this.tracksIn = 0;
      this.changeWaiters = [];
      this.rc = { ice: 'new', up: false, ever: false, connectedSeq: 0, failedSeq: 0, lastConnected: 0, detectedAt: 0, remoteRestarts: 0, remoteRestartSeq: 0 };
      this.graceTimer = null;
      this.recovering = false;
      this.lastRx = 0;
      this.rx = Promise.resolve();
      this.lockTokens = new Map();

      const onMsg = (m) => this.onMessage(m);
      const onState = (s) => this.recordState('signaling-client', s);
      const sig = cfg.signaling || {};
      if (sig.kind === 'ws') this.client = new WSClient(this.id, sig.url, onMsg, onState);
      else if (sig.kind === 'sse') this.client = new SSEClient(this.id, sig.url, onMsg, onState);
      else this.client = new BridgeClient(this.id, onMsg, onState);

      this.lock = new PairLock(this.id, this.remoteId, cfg.lockTimeoutMs, (type, data) => this.send(type, data));
      this.hb = new Heartbeat(cfg.heartbeat);
      this.pc = this.newPC();
      this.statsTimer = setInterval(() => this.statsTick(), 1000);
      this.hb.start();
      this.client.start();
    }

    newPC() {
      const pc = new RTCPeerConnection({
        iceServers: this.cfg.iceServers,
        iceTransportPolicy: this.cfg.relayOnly ? 'relay' : 'all',
      });
      this.recordState('connection', pc.connectionState);
      this.recordState('ice', pc.iceConnectionState);
      this.recordState('signaling', pc.signalingState);
      pc.onconnectionstatechange = () => this.recordState('connection', pc.connectionState);
      pc.oniceconnectionstatechange = () => this.onICEState(pc.iceConnectionState);
      pc.onsignalingstatechange = () => { this.hookICE(); this.recordState('signaling', pc.signalingState); this.notify(); };
      pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) this.localCandidate(e.candidate); };
      pc.onicecandidateerror = (e) => {
        sendEvent({ type: 'error', detail: `icecandidateerror ${e.errorCode} ${e.errorText || ''} at ${e.url || ''}` });
      };
      pc.onnegotiationneeded = () => { this.negNeeded = true; this.kickNegotiator(); };
      pc.ondatachannel = (e) => this.onRemoteChannel(e.channel);
      pc.ontrack = (e) => {
        this.tracksIn++;
        sendEvent({ type: 'track', detail: e.track.kind, label: e.track.id });
        this.notify();
      };
      return pc;
    }

    // ------------------------------------------------------------ plumbing

    send(type, data) {
      const m = { from: this.id, to: this.remoteId, type };
      if (data !== undefined && data !== null) m.data = data;
      return this.client.send(m);
    }
    emitErr(msg) { sendEvent({ type: 'error', detail: msg }); }
    notify() {
      const w = this.changeWaiters;
      this.changeWaiters = [];
      for (const f of w) f();
    }
    // waitFor re-checks cond on every change until it returns true (or
    // throws), within ms.
    waitFor(cond, ms, what) {
      return new Promise((resolve, reject) => {
        let done = false;
        const timer = setTimeout(() => { done = true; reject(fail('timeout', `${this.id}: waiting for ${what} for ${ms} ms`)); }, ms);
        const check = () => {
          if (done) return;
          let ok;
          try {
            if (this.closed) throw fail('closed', `${this.id} closed while waiting for ${what}`);
            ok = cond();
          } catch (e) {
            done = true;
            clearTimeout(timer);
            reject(e);
            return;
          }
          if (ok) {
            done = true;
            clearTimeout(timer);
            resolve();
            return;
          }
          this.changeWaiters.push(check);
        };
        check();
      });
    }
    recordState(machine, state) {
      if (this.states[machine] === state) return;
      this.states[machine] = state;
      const at = performance.timeOrigin + performance.now();
      this.history.push({ at, machine, state });
      sendEvent({ type: 'state', at, machine, state });
      this.notify();
    }

    // ------------------------------------------------------------ signaling in

    onMessage(m) {
      if (!m || typeof m !== 'object') return;
      if (m.from === this.id && m.to === this.id) {
        this.serverMessage(m);
        return;
      }
      if (m.from !== this.remoteId || m.to !== this.id) return;
      // In order, one at a time, as the Go peer's readLoop.
      this.rx = this.rx.then(() => this.handle(m)).catch((e) => this.emitErr(`handling ${m.type} from ${m.from}: ${errText(e)}`));
    }
    serverMessage(m) {
      if (m.type === 'listing') {
        const v = m.data && m.data.version;
        if (v !== undefined && v !== this.cfg.version) {
          const detail = `signaling server is version "${v}", want "${this.cfg.version}"`;
          sendEvent({ type: 'version-mismatch', detail });
          this.reloadForVersion(v);
        }
      } else if (m.type === 'error') {
        const d = m.data || {};
        this.emitErr(`signaling: server refused: ${d.code || 'unknown'}: ${d.message || ''}`);
      }
    }
    // reloadForVersion reloads the page (to get the code of the server's
    // version), once per server version so a server that stays different
    // does not make a reload loop.
    reloadForVersion(v) {
      const key = 'netlab-reloaded-for';
      if (sessionStorage.getItem(key) === String(v)) return;
      sessionStorage.setItem(key, String(v));
      setTimeout(() => location.reload(), 100);
    }
    async handle(m) {
      if (this.closed) return;
      if (!this.hbHeard) {
        // Beat on signaling only once the remote is there (peer/negotiate.go).
        this.hbHeard = true;
        this.hb.addPath('signaling', (payload) => this.send('heartbeat', JSON.parse(payload)));
      }
      switch (m.type) {
        case 'offer':
        case 'answer': {
          const d = m.data;
          if (!d || d.type !== m.type || typeof d.sdp !== 'string' || !d.sdp.trim().startsWith('v=')) {
            this.emitErr(`bad signal: ${m.type} from ${m.from}: want {type, sdp}`);
            return;
          }
          if (m.type === 'offer') await this.onOffer(d);
          else await this.onAnswer(d);
          return;
        }
        case 'icecandidate': {
          const c = m.data;
          if (!c || typeof c.candidate !== 'string' || !c.candidate.trim()) {
            this.emitErr(`bad signal: icecandidate from ${m.from}: empty candidate`);
            return;
          }
          await this.onCandidate(c);
          return;
        }
        case 'lockRequest':
          this.lock.onRequest(m.data);
          return;
        case 'lockResponse':
          this.lock.onResponse(m.data);
          return;
        case 'heartbeat':
          this.hb.received('signaling');
          return;
        case 'bye':
          this.onBye();
          return;
        default:
          this.emitErr(`bad signal: ${m.type} from ${m.from}: unknown message type`);
      }
    }

    onOffer(desc) {
      return this.neg.run(async () => {
        if (this.closed) return;
        const pc = this.pc;
        const st = pc.signalingState;
        if (st !== 'stable' && this.unanswered() && (this.perfect || !this.lock.holding)) {
          // Our offer is unanswered: it is no glare. Under the lock we do
          // not hold it (else we would be waiting for its answer), so the
          // remote does; under perfect negotiation even the impolite side
          // gives a stale offer up. The remote's offer wins, and Chrome
          // rolls ours back implicitly in setRemoteDescription(offer).
          sendEvent({ type: 'glare', detail: 'rolled back our unanswered offer' });
        } else if (st !== 'stable') {
          if (!this.perfect) {
            sendEvent({ type: 'glare', detail: 'ignored: the remote offered without holding the pair lock' });
            this.emitErr(`[negotiation] offer from ${this.remoteId} while ${st}: the remote offered without holding the pair lock; ignored`);
            return;
          }
          if (!this.polite) {
            this.ignoreOffer = true;
            sendEvent({ type: 'glare', detail: 'ignored the remote offer (impolite side)' });
            return;
          }
          // Chrome rolls back implicitly in setRemoteDescription(offer).
          // Our offer is given up, so nothing waits for its answer (nor
          // marks it unanswered later: watchAnswer).
          sendEvent({ type: 'glare', detail: 'rolled back (polite side)' });
          this.finishOffer(fail('negotiation', `${this.id} rolled its offer back for the remote's (polite side)`));
        }
        this.ignoreOffer = false;
        let restart = false;
        const rd = pc.remoteDescription;
        if (rd) {
          const old = sdpUfrag(rd.sdp);
          const now = sdpUfrag(desc.sdp);
          restart = old !== '' && now !== '' && old !== now;
        }
        if (hasApplication(desc.sdp)) this.ensureHeartbeatChannel();
        this.holdCandidates();
        const before = this.selectedPair().key;
        try {
          await pc.setRemoteDescription(desc);
          if (restart) this.remoteRestartBegun(before);
          await this.flushRemoteCandidates();
          await pc.setLocalDescription(await pc.createAnswer());
          this.exchanges++;
          await this.sendDescription(pc.localDescription);
        } catch (e) {
          this.emitErr(`[negotiation] answering ${this.remoteId}: ${errText(e)}`);
          if (this.offerWait && this.perfect) this.finishOffer(null);
        } finally {
          this.releaseCandidates();
        }
        this.notify();
        this.kickNegotiator();
      });
    }

    onAnswer(desc) {
      return this.neg.run(async () => {
        if (this.closed) return;
        const pc = this.pc;
        if (pc.signalingState !== 'have-local-offer') {
          this.emitErr(`bad signal: answer from ${this.remoteId} while ${pc.signalingState} (no offer of ours outstanding); ignored`);
          return;
        }
        try {
          await pc.setRemoteDescription(desc);
          await this.flushRemoteCandidates();
          this.exchanges++;
          this.finishOffer(null);
        } catch (e) {
          const err = fail('negotiation', `applying the answer of ${this.remoteId}: ${errText(e)}`);
          this.emitErr(err.message);
          this.finishOffer(err);
        }
        this.notify();
        this.kickNegotiator();
      });
    }

    finishOffer(err) {
      const w = this.offerWait;
      this.offerWait = null;
      if (!w) return;
      if (err) w.reject(err);
      else w.resolve();
    }

    matchesGeneration(c) {
      const rd = this.pc.remoteDescription;
      const u = c.usernameFragment || candidateUfrag(c.candidate);
      return !u || (rd && sdpHasUfrag(rd.sdp, u));
    }

    onCandidate(c) {
      return this.neg.run(async () => {
        if (this.closed) return;
        if (!this.pc.remoteDescription || !this.matchesGeneration(c)) {
          if (this.remoteCands.length >= MAX_REMOTE_CANDS) {
            this.remoteCands.shift();
            this.emitErr(`bad signal: more than ${MAX_REMOTE_CANDS} candidates waiting for a description; dropping the oldest`);
          }
          this.remoteCands.push(c);
          return;
        }
        await this.addCandidate(c);
      });
    }
    async addCandidate(c) {
      try {
        await this.pc.addIceCandidate(c);
      } catch (e) {
        if (!(this.perfect && this.ignoreOffer)) this.emitErr(`bad signal: candidate ${c.candidate}: ${errText(e)}`);
      }
    }
    async flushRemoteCandidates() {
      const cands = this.remoteCands;
      this.remoteCands = [];
      for (const c of cands) {
        if (this.matchesGeneration(c)) await this.addCandidate(c);
      }
    }

    // Local candidates wait until the description of their ICE generation
    // has gone out (peer/negotiate.go, holdCandidates).
    holdCandidates() { this.descSent = false; }
    releaseCandidates() { if (!this.descSent) this.flushCandidates(); }
    flushCandidates() {
      this.descSent = true;
      const b = this.candBuf;
      this.candBuf = [];
      for (const c of b) this.sendCandidate(c);
    }
    sendDescription(d) {
      const p = this.send(d.type, { type: d.type, sdp: d.sdp });
      this.localUfrag = sdpUfrag(d.sdp);
      this.flushCandidates();
      return p;
    }
    localCandidate(cand) {
      const j = cand.toJSON();
      const c = { candidate: j.candidate, sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null, usernameFragment: j.usernameFragment || candidateUfrag(j.candidate) || null };
      if (!this.descSent) {
        this.candBuf.push(c);
        return;
      }
      this.sendCandidate(c);
    }
    sendCandidate(c) {
      if (!c.usernameFragment && this.localUfrag) c.usernameFragment = this.localUfrag;
      this.send('icecandidate', c).catch((e) => { if (!this.closed) this.emitErr(`sending a candidate to ${this.remoteId}: ${errText(e)}`); });
    }

    // ------------------------------------------------------------ negotiation

    hasChannels() {
      return !!this.hbDC || this.local.some((ch) => ch.dc.readyState !== 'closed');
    }
    needsNegotiation() {
      if (this.closed) return false;
      if (this.restartPending) return true;
      const pc = this.pc;
      const hasDC = this.hasChannels();
      const ld = pc.currentLocalDescription;
      if (!ld) return hasDC || pc.getTransceivers().length > 0;
      if (hasDC && !hasApplication(ld.sdp)) return true;
      return pc.getTransceivers().some((t) => t.mid === null && !t.stopped && t.currentDirection !== 'stopped');
    }

    // offer creates, sets and sends an offer (under neg); returns
    // {answered, wait, resent}: the promise of the answer, its deferred,
    // and whether this was an unanswered offer sent again.
    async offer(iceRestart) {
      const pc = this.pc;
      if (this.closed) throw fail('closed', `${this.id} closed`);
      if (this.unanswered()) return this.resendOffer();
      if (pc.signalingState !== 'stable') throw fail('negotiation', `${this.id} cannot offer in signaling state ${pc.signalingState}`);
      if (this.hasChannels()) this.ensureHeartbeatChannel();
      this.holdCandidates();
      try {
        const offer = await pc.createOffer({ iceRestart: !!iceRestart });
        this.negNeeded = false;
        await pc.setLocalDescription(offer);
        if (iceRestart) this.restartPending = false;
        const wait = deferred();
        this.offerWait = wait;
        try {
          await this.sendDescription(pc.localDescription);
        } catch (e) {
          if (this.offerWait === wait) this.offerWait = null; // unanswered: sent again next time
          throw e;
        }
        // Wrapped: a promise returned bare would keep the neg mutex until
        // the answer, which needs the mutex.
        return { answered: wait.promise, wait, resent: false };
      } catch (e) {
        if (e instanceof NetlabError) throw e;
        throw fail('negotiation', `${this.id} offering: ${errText(e)}`);
      } finally {
        this.releaseCandidates();
      }
    }

    // unanswered: an offer of ours that nothing waits an answer for (its
    // send failed, the negotiation that made it stopped waiting, or its
    // answer was refused), as peer/negotiate.go's unansweredLocked. The
    // remote may have it (only its answer was lost), so it is not rolled
    // back for a new one: it goes again, unchanged (resendOffer), unless
    // the remote offers first under the lock (onOffer).
    unanswered() {
      return !this.offerWait && this.pc.signalingState === 'have-local-offer' && !!this.pc.pendingLocalDescription;
    }
    // resendOffer sends the unanswered offer again (under neg); it
    // returns what offer returns.
    async resendOffer() {
      const wait = deferred();
      this.offerWait = wait;
      try {
        await this.sendDescription(this.pc.pendingLocalDescription);
      } catch (e) {
        if (this.offerWait === wait) this.offerWait = null;
        throw e instanceof NetlabError ? e : fail('negotiation', `${this.id} re-sending its unanswered offer: ${errText(e)}`);
      }
      this.emitErr(`[negotiation] ${this.id} re-sent the unanswered offer to ${this.remoteId} (its first send failed, or no answer came): the same offer goes again before anything new`);
      return { answered: wait.promise, wait, resent: true };
    }

    // negotiate offers under the pair lock, waits for the answer, then
    // keeps the lock settleDelayMs (the seed releases "a short delay after
    // stable"). An unanswered offer goes first; when the caller wanted an
    // ICE restart, a fresh restart offer follows it.
    async negotiate(iceRestart) {
      const r = await this.neg.run(() => this.offer(iceRestart));
      await this.answerOf(r);
      if (r.resent && iceRestart) await this.answerOf(await this.neg.run(() => this.offer(true)));
      await sleep(this.cfg.settleDelayMs);
    }
    // answerOf waits answerTimeoutMs for the answer to the offer r; an
    // offer left without one is unanswered from then on.
    async answerOf(r) {
      await withTimeout(r.answered, this.cfg.answerTimeoutMs, `an answer from ${this.remoteId}`).catch((e) => {
        if (this.offerWait === r.wait) this.offerWait = null;
        throw e instanceof NetlabError && e.code !== 'timeout' ? e : fail('negotiation', `${this.id} got no answer from ${this.remoteId}: ${errText(e)}`);
      });
      if (this.pc.signalingState !== 'stable') throw fail('negotiation', `${this.id} is ${this.pc.signalingState} after the answer, want stable`);
    }

    // lockedOp runs create and, when needed (or always), a negotiation, as
    // one body under the pair lock.
    async lockedOp(create, always, signal) {
      if (this.closed) throw fail('closed', `${this.id} closed`);
      this.ops++;
      try {
        return await this.lock.acquire(async () => {
          let r;
          if (create) r = await create();
          if (always || this.needsNegotiation()) await this.negotiate(false);
          return r;
        }, signal);
      } finally {
        this.ops--;
        this.kickNegotiator();
      }
    }

    kickNegotiator() {
      if (this.closed) return;
      if (this.negotiating) {
        this.kickAgain = true;
        return;
      }
      this.negotiating = true;
      setTimeout(async () => {
        try {
          do {
            this.kickAgain = false;
            try {
              if (this.perfect) await this.perfectNegotiate();
              else await this.lockNegotiate();
            } catch (e) {
              if (!this.closed) this.emitErr(`${this.id}: negotiation for negotiationneeded: ${errText(e)}`);
            }
          } while (this.kickAgain && !this.closed);
        } finally {
          this.negotiating = false;
        }
      }, 0);
    }
    async lockNegotiate() {
      if (this.ops > 0 || !this.needsNegotiation()) return;
      await this.lock.acquire(async () => {
        if (!this.needsNegotiation()) return;
        await this.negotiate(false);
      });
    }
    perfectNegotiate() {
      return this.neg.run(async () => {
        if (this.closed) return;
        if (this.unanswered()) {
          this.watchAnswer(await this.resendOffer());
          return;
        }
        if (this.pc.signalingState !== 'stable') return;
        if (!this.needsNegotiation() && !this.negNeeded) return;
        this.watchAnswer(await this.offer(this.restartPending)); // perfect negotiation waits for results, not answers
      });
    }
    // watchAnswer: perfect negotiation does not wait for an answer, so an
    // offer still without one after answerTimeoutMs is marked unanswered
    // here. A fresh offer is then sent again once (a re-sent one is not,
    // so a remote that is gone gets no endless re-sends), and a remote
    // offer rolls it back even on the impolite side (onOffer).
    watchAnswer(r) {
      const t = setTimeout(() => {
        if (this.closed || this.offerWait !== r.wait || this.pc.signalingState !== 'have-local-offer') return;
        this.offerWait = null;
        this.emitErr(`[negotiation] ${this.id} got no answer from ${this.remoteId} within ${this.cfg.answerTimeoutMs} ms: the offer is unanswered`);
        if (!r.resent) this.kickNegotiator();
      }, this.cfg.answerTimeoutMs);
      r.answered.then(() => clearTimeout(t), () => clearTimeout(t));
    }

    // ------------------------------------------------------------ channels

    ensureHeartbeatChannel() {
      if (this.cfg.heartbeat.disabled || this.hbDC) return;
      const dc = this.pc.createDataChannel(HB_LABEL, { ordered: false, maxRetransmits: 0, negotiated: true, id: HB_ID });
      dc.binaryType = 'arraybuffer';
      this.hbDC = dc;
      const current = () => this.hbDC === dc && !this.closed;
      dc.onopen = () => {
        if (current()) {
          this.hb.addPath('datachannel', (payload) => {
            if (dc.readyState === 'open') dc.send(utf8.encode(payload));
          });
        }
      };
      dc.onclose = () => { if (current()) this.hb.removePath('datachannel'); };
      dc.onmessage = () => { if (current()) this.hb.received('datachannel'); };
    }

    bindChannel(ch) {
      const dc = ch.dc;
      dc.binaryType = 'arraybuffer';
      dc.bufferedAmountLowThreshold = LOW_BUFFERED;
      dc.onopen = () => this.channelOpen(ch);
      dc.onclose = () => {
        if (ch.closedSent) return;
        ch.closedSent = true;
        sendEvent({ type: 'channel-close', label: ch.label, channelId: dc.id ?? ch.id ?? 0 });
        this.notify();
      };
      dc.onmessage = (e) => {
        let bytes;
        if (typeof e.data === 'string') bytes = utf8.encode(e.data);
        else bytes = new Uint8Array(e.data);
        sendEvent({ type: 'message', label: ch.label, channelId: dc.id, data: b64encode(bytes) });
      };
      dc.onerror = (e) => {
        const err = e.error ? `${e.error.errorDetail || ''} ${e.error.message || ''}` : 'error';
        if (!this.closed) this.emitErr(`channel ${ch.label}: ${err}`);
      };
      if (dc.readyState === 'open') this.channelOpen(ch);
    }
    channelOpen(ch) {
      if (ch.opened) return;
      ch.opened = true;
      ch.id = ch.dc.id;
      sendEvent({ type: 'channel-open', label: ch.label, channelId: ch.id });
      if (!ch.local) {
        const a = this.acceptEntry(ch.label);
        const w = a.waiters.shift();
        if (w) w.resolve(ch);
        else a.ready.push(ch);
      }
      this.notify();
    }
    acceptEntry(label) {
      let a = this.accept.get(label);
      if (!a) { a = { ready: [], waiters: [] }; this.accept.set(label, a); }
      return a;
    }
    onRemoteChannel(dc) {
      if (dc.label === HB_LABEL) return;
      const ch = { dc, label: dc.label, local: false, opts: optionsOf(dc) };
      this.remote.push(ch);
      this.bindChannel(ch);
    }
    findChannel(ref) {
      const all = this.local.concat(this.remote).filter((ch) => ch.dc.readyState === 'open' || ch.dc.readyState === 'closing');
      const byID = (typeof ref === 'number') ? all.filter((ch) => ch.dc.id === ref) : [];
      const pick = byID.length ? byID : all.filter((ch) => ch.label === ref);
      if (!pick.length) throw fail('not-found', `no open channel ${JSON.stringify(ref)}`);
      return pick[pick.length - 1];
    }

    async createDataChannel(label, opts) {
      opts = opts || {};
      const init = validateChannelOptions(label, opts);
      let ch;
      const create = async () => {
        await this.neg.run(() => {
          if (this.closed) throw fail('closed', `${this.id} closed`);
          this.ensureHeartbeatChannel();
          let dc;
          try {
            dc = this.pc.createDataChannel(label, init);
          } catch (e) {
            throw fail('bad-config', `creating channel ${label} (${JSON.stringify(init)}): ${errText(e)}`);
          }
          ch = { dc, label, local: true, opts };
          this.local.push(ch);
          this.bindChannel(ch);
        });
      };
      if (this.perfect) {
        await create();
        this.kickNegotiator();
      } else {
        await this.lockedOp(create, false);
      }
      await this.waitFor(() => {
        if (ch.opened) return true;
        if (ch.dc.readyState === 'closed') throw fail('channel-closed', `channel ${label} closed before it opened`);
        return false;
      }, DEFAULT_WAIT, `channel ${label} to open`);
      // seq: the events up to it (channel-open included) were sent before
      // this result, so the Go side can wait for them to be handled.
      return { label, id: ch.id, seq: evSeq };
    }

    async acceptDataChannel(label, timeoutMs) {
      const a = this.acceptEntry(label);
      let ch = a.ready.shift();
      if (!ch) {
        const d = deferred();
        a.waiters.push(d);
        try {
          ch = await withTimeout(d.promise, timeoutMs || DEFAULT_WAIT, `a channel ${label} from ${this.remoteId}`);
        } catch (e) {
          const i = a.waiters.indexOf(d);
          if (i >= 0) a.waiters.splice(i, 1);
          throw e;
        }
      }
      return { label: ch.label, id: ch.id, options: ch.opts, seq: evSeq };
    }

    async sendOn(ref, b64) {
      let ch;
      try {
        ch = this.findChannel(ref);
      } catch (e) {
        throw fail('channel-closed', `no open channel ${JSON.stringify(ref)}`);
      }
      const dc = ch.dc;
      if (dc.readyState !== 'open') throw fail('channel-closed', `channel ${ch.label} is ${dc.readyState}`);
      if (dc.bufferedAmount > MAX_BUFFERED) {
        await new Promise((resolve) => {
          const done = () => { dc.removeEventListener('bufferedamountlow', done); dc.removeEventListener('close', done); resolve(); };
          dc.addEventListener('bufferedamountlow', done);
          dc.addEventListener('close', done);
        });
        if (dc.readyState !== 'open') throw fail('channel-closed', `channel ${ch.label} is ${dc.readyState}`);
      }
      try {
        dc.send(b64decode(b64));
      } catch (e) {
        throw fail('channel-closed', `channel ${ch.label}: ${errText(e)}`);
      }
    }

    closeChannel(ref) {
      let ch;
      try {
        ch = this.findChannel(ref);
      } catch (e) {
        return; // closed already: idempotent
      }
      ch.dc.close();
    }

    // ------------------------------------------------------------ media

    async addMedia(spec) {
      spec = spec || {};
      if (spec.kind !== 'audio' && spec.kind !== 'video') throw fail('bad-config', `media kind: want "audio" or "video", got ${JSON.stringify(spec.kind)}`);
      const bitrate = spec.bitrate || (spec.kind === 'audio' ? 64000 : 500000);
      const src = await fakeTrack(spec.kind);
      const stream = new MediaStream([src.track]);
      let sender;
      const create = () => this.neg.run(() => {
        if (this.closed) throw fail('closed', `${this.id} closed`);
        sender = this.pc.addTrack(src.track, stream);
        this.senders.push({ sender, stop: src.stop, spec, trackId: spec.trackId || `${spec.kind}${this.senders.length}` });
      });
      if (this.perfect) {
        await create();
        this.kickNegotiator();
        await this.waitFor(() => {
          const t = this.pc.getTransceivers().find((x) => x.sender === sender);
          return !!t && t.mid !== null && this.pc.signalingState === 'stable' && !!this.pc.currentRemoteDescription;
        }, DEFAULT_WAIT, `track ${spec.kind} to be negotiated`);
      } else {
        await this.lockedOp(create, true);
      }
      try {
        const p = sender.getParameters();
        if (p.encodings && p.encodings.length) {
          p.encodings[0].maxBitrate = bitrate;
          await sender.setParameters(p);
        }
      } catch (e) {
        this.emitErr(`media: setting ${bitrate} bit/s: ${errText(e)}`);
      }
    }

    // ------------------------------------------------------------ lock for Go

    // lockFor acquires the pair lock for a body that runs on the Go side;
    // it resolves with token once held. unlock(token) ends the body (or
    // gives up the wait when it was not held yet).
    lockFor(token) {
      token = token || `lock-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      if (this.lockTokens.has(token)) return Promise.reject(fail('bad-config', `lock token ${token} in use`));
      const entry = { held: deferred(), release: deferred(), abort: new AbortController() };
      this.lockTokens.set(token, entry);
      const done = this.lock.acquire(async () => {
        entry.holding = true;
        entry.held.resolve(token);
        await entry.release.promise;
      }, entry.abort.signal);
      done.then(() => this.lockTokens.delete(token), (e) => {
        this.lockTokens.delete(token);
        entry.held.reject(e);
      });
      entry.done = done;
      return entry.held.promise;
    }
    async unlock(token, ok) {
      const entry = this.lockTokens.get(token);
      if (!entry) return; // released already
      if (!entry.holding) {
        entry.abort.abort();
        await entry.done.catch(() => {});
        return;
      }
      if (ok !== false) {
        // The settle rule: release once signaling is stable again, a
        // settle delay later.
        await this.waitFor(() => this.pc.signalingState === 'stable', DEFAULT_WAIT, 'signaling to be stable').catch(() => {});
        await sleep(this.cfg.settleDelayMs);
      }
      entry.release.resolve();
      await entry.done.catch(() => {});
    }

    // ------------------------------------------------------------ reconnect

    onICEState(s) {
      this.hookICE();
      const now = Date.now();
      this.recordState('ice', s);
      const rc = this.rc;
      rc.ice = s;
      let ev = null;
      if (s === 'connected' || s === 'completed') {
        if (!rc.up) {
          rc.up = true;
          rc.connectedSeq++;
          rc.lastConnected = now;
        }
        rc.ever = true;
        if (rc.detectedAt) {
          ev = { type: 'recovered', sinceMs: rc.detectedAt, durationMs: now - rc.detectedAt, detail: 'ice ' + s };
          rc.detectedAt = 0;
        }
      } else if (s === 'disconnected' || s === 'failed') {
        rc.up = false;
        if (s === 'failed') rc.failedSeq++;
        if (rc.ever && !rc.detectedAt) {
          let from = rc.lastConnected;
          if (this.lastRx > from && this.lastRx <= now) from = this.lastRx;
          rc.detectedAt = now;
          ev = { type: 'disconnected', sinceMs: from, durationMs: now - from, detail: 'ice ' + s };
        }
      } else {
        rc.up = false;
      }
      this.notify();
      if (ev) sendEvent(ev);
      this.policy(s);
    }
    policyActive() {
      if (this.cfg.reconnect.disabled || (this.perfect && this.polite)) return false;
      return this.rc.ever && !this.bye && !this.closed;
    }
    policy(s) {
      if (!this.policyActive()) {
        clearTimeout(this.graceTimer);
        this.graceTimer = null;
        return;
      }
      if (s === 'disconnected') {
        if (!this.graceTimer) {
          this.graceTimer = setTimeout(() => {
            this.graceTimer = null;
            const now = this.rc.ice;
            if (now === 'disconnected' || now === 'failed') this.recover(`ICE ${now} for ${this.cfg.reconnect.graceMs} ms`);
          }, this.cfg.reconnect.graceMs);
        }
      } else if (s === 'failed') {
        clearTimeout(this.graceTimer);
        this.graceTimer = null;
        this.recover('ICE failed');
      } else if (s === 'connected' || s === 'completed' || s === 'closed') {
        clearTimeout(this.graceTimer);
        this.graceTimer = null;
      }
    }
    remoteRestartBegun(before) {
      this.remoteRestartPair = before;
      this.rc.remoteRestarts++;
      this.rc.remoteRestartSeq = this.rc.connectedSeq;
      sendEvent({ type: 'restart', detail: 'remote ICE restart' });
    }
    // iceTransport is the RTCIceTransport of the session (one: bundle).
    iceTransport() {
      const pc = this.pc;
      if (pc.sctp && pc.sctp.transport && pc.sctp.transport.iceTransport) return pc.sctp.transport.iceTransport;
      for (const x of pc.getSenders().concat(pc.getReceivers())) {
        if (x.transport && x.transport.iceTransport) return x.transport.iceTransport;
      }
      return null;
    }
    // hookICE makes a change of the selected pair wake the waiters.
    hookICE() {
      const t = this.iceTransport();
      if (t && t !== this.hookedICE) {
        this.hookedICE = t;
        t.addEventListener('selectedcandidatepairchange', () => this.notify());
      }
    }
    // selectedPair is the selected pair's key and its local ufrag.
    selectedPair() {
      const t = this.iceTransport();
      const pair = t && t.getSelectedCandidatePair ? t.getSelectedCandidatePair() : null;
      if (!pair || !pair.local) return { key: '', ufrag: '' };
      return { key: `${pair.local.candidate}|${pair.remote && pair.remote.candidate}`, ufrag: pair.local.usernameFragment || candidateUfrag(pair.local.candidate) };
    }
    // onNewGeneration: ICE is up on a pair of the current local ICE
    // generation (Chrome keeps "connected" through an ICE restart when
    // the old pair still works, so the state alone does not tell).
    onNewGeneration(before) {
      if (!this.rc.up) return false;
      const ld = this.pc.localDescription;
      const sel = this.selectedPair();
      if (!ld || !sel.key) return false;
      if (sel.ufrag) return sel.ufrag === sdpUfrag(ld.sdp);
      return sel.key !== before;
    }
    waitReconnected(seq, fseq, ms, before) {
      return this.waitFor(() => {
        if (this.rc.connectedSeq > seq) return true;
        if (before !== undefined && this.onNewGeneration(before)) return true;
        if (this.rc.failedSeq > fseq) throw fail('negotiation', `${this.id}: ICE failed again after the restart`);
        return false;
      }, ms || RESTART_WAIT, 'ICE to connect after the restart');
    }
    async restartBody(why, skipIfUp) {
      const { up, connectedSeq: seq, failedSeq: fseq } = this.rc;
      if (skipIfUp && up) return;
      sendEvent({ type: 'restart', detail: why });
      const before = this.selectedPair().key;
      await this.negotiate(true);
      await this.waitReconnected(seq, fseq, RESTART_WAIT, before);
    }
    async restart() {
      if (this.closed) throw fail('closed', `${this.id} closed`);
      if (this.perfect) return this.perfectRestart('requested');
      return this.lock.acquire(() => this.restartBody('requested', false));
    }
    async perfectRestart(why) {
      const { connectedSeq: seq, failedSeq: fseq } = this.rc;
      const before = this.selectedPair().key;
      this.restartPending = true;
      sendEvent({ type: 'restart', detail: why });
      this.kickNegotiator();
      // The restart's offer must be out before the generation check can
      // mean anything.
      await this.waitFor(() => !this.restartPending, RESTART_WAIT, 'the restart offer');
      await this.waitReconnected(seq, fseq, RESTART_WAIT, before);
    }
    // recover restarts ICE until it connects, with backoff, while the
    // policy holds; the side that gets the lock after the remote began a
    // restart for this outage waits for that one first (peer/reconnect.go).
    async recover(why) {
      if (this.recovering) return;
      this.recovering = true;
      try {
        let backoff = RESTART_BACKOFF_MIN;
        let served = 0;
        for (let attempt = 1; ; attempt++) {
          if (this.rc.up || !this.policyActive()) return;
          try {
            await this.client.waitConnected();
          } catch (e) {
            return;
          }
          const detail = `${why} (attempt ${attempt})`;
          try {
            if (this.perfect) {
              await this.perfectRestart(detail);
            } else {
              const seq = this.rc.connectedSeq;
              await this.lock.acquire(async () => {
                const n = this.rc.remoteRestarts;
                if (n !== served && this.rc.remoteRestartSeq === seq) {
                  served = n;
                  try {
                    await this.waitReconnected(seq, Infinity, RESTART_WAIT, this.remoteRestartPair);
                    return;
                  } catch (e) { /* restart ourselves */ }
                }
                await this.restartBody(detail, true);
              });
            }
            return;
          } catch (e) {
            if (this.closed) return;
            this.emitErr(`${this.id}: ICE restart attempt ${attempt}: ${errText(e)}`);
          }
          await sleep(backoff / 2 + Math.random() * backoff / 2);
          backoff = Math.min(2 * backoff, RESTART_BACKOFF_MAX);
        }
      } finally {
        this.recovering = false;
      }
    }

    onBye() {
      this.bye = true;
      this.hb.stop();
      clearTimeout(this.graceTimer);
      sendEvent({ type: 'bye', detail: `${this.remoteId} closed` });
      this.notify();
    }

    // ------------------------------------------------------------ stats

    async stats() {
      if (this.closed) throw fail('closed', `${this.id} closed`);
      const s = {
        at: performance.timeOrigin + performance.now(),
        rttS: 0, localCandidate: '', remoteCandidate: '', localAddress: '', remoteAddress: '',
        bytesSent: 0, bytesReceived: 0, packetsSent: 0, packetsReceived: 0,
        rtpPacketsSent: 0, rtpBytesSent: 0, rtpPacketsReceived: 0, rtpBytesReceived: 0,
        tracksReceived: this.tracksIn,
        connectionState: this.states.connection || '', iceState: this.states.ice || '', signalingState: this.states.signaling || '',
        history: this.history.slice(),
      };
      const report = await this.pc.getStats();
      // Chrome serves a report up to 50 ms old from a cache: its own
      // timestamp (ms since the epoch) is when the counters were read.
      let reportAt = 0;
      report.forEach((r) => { if (Number.isFinite(r.timestamp)) reportAt = Math.max(reportAt, r.timestamp); });
      if (reportAt > 0) s.at = reportAt;
      let pairId = '';
      report.forEach((r) => {
        if (r.type === 'transport') {
          s.bytesSent += r.bytesSent || 0;
          s.bytesReceived += r.bytesReceived || 0;
          if (r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
        } else if (r.type === 'outbound-rtp') {
          s.rtpPacketsSent += r.packetsSent || 0;
          s.rtpBytesSent += (r.bytesSent || 0) + (r.headerBytesSent || 0);
        } else if (r.type === 'inbound-rtp') {
          s.rtpPacketsReceived += r.packetsReceived || 0;
          s.rtpBytesReceived += (r.bytesReceived || 0) + (r.headerBytesReceived || 0);
        }
      });
      if (!pairId) report.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pairId = r.id; });
      const pair = pairId && report.get(pairId);
      if (pair) {
        s.rttS = pair.currentRoundTripTime || 0;
        s.packetsSent = pair.packetsSent || 0;
        s.packetsReceived = pair.packetsReceived || 0;
        if (pair.lastPacketReceivedTimestamp) this.lastRx = Math.max(this.lastRx, pair.lastPacketReceivedTimestamp);
        const l = report.get(pair.localCandidateId);
        const r = report.get(pair.remoteCandidateId);
        const addr = (c) => {
          const ip = c.address || c.ip || '';
          return ip.includes(':') ? `[${ip}]:${c.port}` : `${ip}:${c.port}`;
        };
        if (l) { s.localCandidate = l.candidateType; s.localAddress = addr(l); }
        if (r) { s.remoteCandidate = r.candidateType; s.remoteAddress = addr(r); }
      }
      return s;
    }
    async statsTick() {
      if (this.closed || this.statsBusy) return;
      this.statsBusy = true;
      try {
        const s = await this.stats();
        s.history = undefined; // the time series does not repeat the history every second
        if (!this.closed) sendEvent({ type: 'stats', stats: s });
      } catch (e) {
        // closed meanwhile
      } finally {
        this.statsBusy = false;
      }
    }

    // ------------------------------------------------------------ close

    close(sayBye) {
      if (!this.closing) {
        this.closing = (async () => {
          if (sayBye) {
            await withTimeout(this.send('bye'), BYE_TIMEOUT, 'bye').catch(() => {});
          }
          this.teardown();
        })();
      }
      return this.closing;
    }
    teardown() {
      if (this.closed) return;
      this.closed = true;
      this.hb.stop();
      clearInterval(this.statsTimer);
      clearTimeout(this.graceTimer);
      this.lock.close();
      for (const [, e] of this.lockTokens) e.release.resolve();
      this.finishOffer(fail('closed', `${this.id} closed`));
      for (const a of this.accept.values()) for (const w of a.waiters) w.reject(fail('closed', `${this.id} closed`));
      for (const s of this.senders) { try { s.stop(); } catch (e) { /* gone already */ } }
      try { this.pc.close(); } catch (e) { /* closed already */ }
      this.recordState('connection', 'closed');
      this.recordState('ice', 'closed');
      this.recordState('signaling', 'closed');
      this.client.close();
      this.notify();
    }
  }

  function optionsOf(dc) {
    const o = {};
    if (!dc.ordered) o.unordered = true;
    if (dc.maxRetransmits !== null && dc.maxRetransmits !== undefined) o.maxRetransmits = dc.maxRetransmits;
    if (dc.maxPacketLifeTime !== null && dc.maxPacketLifeTime !== undefined) o.maxPacketLifeTime = dc.maxPacketLifeTime;
    if (dc.negotiated) { o.negotiated = true; o.id = dc.id; }
    if (dc.protocol) o.protocol = dc.protocol;
    return o;
  }

  function validateChannelOptions(label, o) {
    if (typeof label !== 'string') throw fail('bad-config', `channel label: want a string, got ${typeof label}`);
    if (label === HB_LABEL) throw fail('bad-config', `label "${HB_LABEL}" is the heartbeat channel's`);
    const has = (v) => v !== undefined && v !== null;
    if (has(o.maxRetransmits) && has(o.maxPacketLifeTime)) throw fail('bad-config', 'channel options: maxRetransmits and maxPacketLifeTime are exclusive, got both');
    if (o.negotiated && !has(o.id)) throw fail('bad-config', 'channel options: a negotiated channel needs an id, got none');
    if (!o.negotiated && has(o.id)) throw fail('bad-config', `channel options: id ${o.id} is for negotiated channels`);
    if (has(o.id) && (o.id === HB_ID || o.id < 0 || o.id > 65534)) throw fail('bad-config', `channel options: id ${o.id} not allowed (1023 is the heartbeat's; 0..65534)`);
    const init = { ordered: !o.unordered };
    if (has(o.maxRetransmits)) init.maxRetransmits = o.maxRetransmits;
    if (has(o.maxPacketLifeTime)) init.maxPacketLifeTime = o.maxPacketLifeTime;
    if (o.protocol) init.protocol = o.protocol;
    if (o.negotiated) { init.negotiated = true; init.id = o.id; }
    return init;
  }

  const idOK = (id) => typeof id === 'string' && id.length > 0 && id.length <= 256 && !/[\/?#%\u0000-\u001f\u007f]/.test(id);

  // normalizeSignaling checks cfg.signaling (start and startClient).
  function normalizeSignaling(cfg) {
    const sig = cfg.signaling || { kind: 'bridge' };
    if (!['ws', 'sse', 'bridge'].includes(sig.kind)) throw fail('bad-config', `signaling.kind: want ws, sse or bridge, got ${JSON.stringify(sig.kind)}`);
    if (sig.kind !== 'bridge' && !/^(wss?|https?):\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(sig.url || '')) {
      throw fail('bad-config', `signaling.url: want a loopback ${sig.kind === 'ws' ? 'ws://' : 'http://'}HOST:PORT, got ${JSON.stringify(sig.url)}`);
    }
    return sig;
  }

  function normalize(cfg) {
    if (!cfg || typeof cfg !== 'object') throw fail('bad-config', 'start: want a config object');
    if (!idOK(cfg.id)) throw fail('bad-config', `id: want a signaling id, got ${JSON.stringify(cfg.id)}`);
    if (!idOK(cfg.remoteId)) throw fail('bad-config', `remoteId: want a signaling id, got ${JSON.stringify(cfg.remoteId)}`);
    if (cfg.id === cfg.remoteId) throw fail('bad-config', `id and remoteId must differ, got ${JSON.stringify(cfg.id)} twice`);
    const glare = cfg.glare || 'lock';
    if (glare !== 'lock' && glare !== 'perfect') throw fail('bad-config', `glare: want "lock" or "perfect", got ${JSON.stringify(glare)}`);
    const sig = normalizeSignaling(cfg);
    const hb = Object.assign({ disabled: false, intervalMs: 1000, timeoutMs: 5000 }, cfg.heartbeat || {});
    if (!hb.intervalMs) hb.intervalMs = 1000;
    if (!hb.timeoutMs) hb.timeoutMs = 5000;
    if (hb.intervalMs < 0 || hb.timeoutMs < 0 || hb.timeoutMs <= hb.intervalMs) {
      throw fail('bad-config', `heartbeat: want 0 < intervalMs < timeoutMs, got ${hb.intervalMs} and ${hb.timeoutMs}`);
    }
    const rc = Object.assign({ disabled: false, graceMs: 2000 }, cfg.reconnect || {});
    if (!rc.graceMs) rc.graceMs = 2000;
    const iceServers = (cfg.iceServers || []).map((s) => {
      const out = { urls: s.urls };
      if (s.username) out.username = s.username;
      if (s.credential) out.credential = s.credential;
      return out;
    });
    if (cfg.relayOnly && !iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)))) {
      throw fail('bad-config', 'relayOnly needs a turn: or turns: URL in iceServers');
    }
    return {
      id: cfg.id, remoteId: cfg.remoteId, glare, iceServers, relayOnly: !!cfg.relayOnly,
      signaling: sig, lockTimeoutMs: cfg.lockTimeoutMs || 5000, settleDelayMs: cfg.settleDelayMs ?? 50,
      answerTimeoutMs: cfg.answerTimeoutMs || DEFAULT_WAIT,
      heartbeat: hb, reconnect: rc, version: cfg.version || PAGE_VERSION,
    };
  }

  // ---------------------------------------------------------------- client-only mode

  // normalizeClient checks netlab.startClient's config: an id and a
  // signaling transport, nothing of the peer's.
  function normalizeClient(cfg) {
    if (!cfg || typeof cfg !== 'object') throw fail('bad-config', 'startClient: want a config object');
    if (!idOK(cfg.id)) throw fail('bad-config', `id: want a signaling id, got ${JSON.stringify(cfg.id)}`);
    const connectTimeoutMs = cfg.connectTimeoutMs ?? 10000;
    if (!(connectTimeoutMs > 0)) throw fail('bad-config', `connectTimeoutMs: want > 0, got ${JSON.stringify(cfg.connectTimeoutMs)}`);
    return { id: cfg.id, signaling: normalizeSignaling(cfg), connectTimeoutMs };
  }

  // SignalClient is the page's signaling client alone (netlab.startClient),
  // no RTCPeerConnection: the transports of the peer (ws, sse, bridge),
  // every message received reported as a signal-in event {msg}, its state
  // changes as state events of machine signaling-client. The Go side
  // (browsers.ChromeClient) dispatches what comes in to its subscriptions.
  class SignalClient {
    constructor(cfg) {
      this.cfg = cfg;
      this.id = cfg.id;
      this.state = '';
      this.closed = false;
      const onMsg = (m) => {
        if (!this.closed) sendEvent({ type: 'signal-in', msg: JSON.stringify(m) });
      };
      const onState = (st) => {
        if (this.state === st) return;
        this.state = st;
        sendEvent({ type: 'state', machine: 'signaling-client', state: st });
      };
      const sig = cfg.signaling;
      if (sig.kind === 'ws') this.client = new WSClient(this.id, sig.url, onMsg, onState);
      else if (sig.kind === 'sse') this.client = new SSEClient(this.id, sig.url, onMsg, onState);
      else this.client = new BridgeClient(this.id, onMsg, onState);
      this.client.start();
    }
    // send sends {from: id, to, type, data}; it resolves with the seq of
    // the last event sent when it returns (on the bridge: the message's
    // signal-out), once the message is on its way: written to the
    // WebSocket, accepted by the server's POST /message, or handed to Go.
    // While the transport is down the message waits in the client's
    // queue and send resolves at once (as the Go client's Send does);
    // losing it later is reported as an error event.
    async send(to, type, dataJSON) {
      if (this.closed) throw fail('closed', `signaling client ${this.id} closed`);
      if (!idOK(to)) throw fail('bad-config', `clientSend: to: want a signaling id, got ${JSON.stringify(to)}`);
      if (typeof type !== 'string' || type === '') throw fail('bad-config', `clientSend: type: want a non-empty string, got ${JSON.stringify(type)}`);
      const m = { from: this.id, to, type };
      if (dataJSON !== undefined && dataJSON !== null && dataJSON !== '') {
        try {
          m.data = JSON.parse(dataJSON);
        } catch (e) {
          throw fail('bad-config', `clientSend: data: not JSON: ${errText(e)}`);
        }
      }
      const queued = !this.client.connected;
      const p = this.client.send(m);
      const seq = evSeq;
      if (queued) {
        p.catch((e) => sendEvent({ type: 'error', detail: `signaling: queued ${type} to ${to}: ${errText(e)}` }));
        return seq;
      }
      try {
        await p;
      } catch (e) {
        if (e && e.status === 413) throw fail('too-large', errText(e));
        if (e && e.status === 400) throw fail('malformed', errText(e));
        throw e;
      }
      return seq;
    }
    close() {
      if (this.closed) return;
      this.closed = true;
      this.client.close();
    }
  }

  // ---------------------------------------------------------------- the API

  let peer = null;
  let sclient = null; // netlab.startClient's
  const needClient = () => {
    if (!sclient) throw fail('closed', 'netlab.startClient has not been called');
    return sclient;
  };
  const need = () => {
    if (!peer) throw fail('closed', 'netlab.start has not been called');
    if (peer.closed || peer.closing) throw fail('closed', `${peer.id} closed`);
    return peer;
  };
  const status = (text) => {
    const el = document.getElementById('status');
    if (el) el.textContent = text;
  };

  window.netlab = Object.freeze({
    version: PAGE_VERSION,
    async start(cfg) {
      if (peer && !peer.closed) throw fail('bad-config', `already started as ${peer.id}`);
      if (sclient && !sclient.closed) throw fail('bad-config', `started as the signaling client ${sclient.id}`);
      const c = normalize(cfg);
      peer = new Peer(c);
      status(`netlab peer ${c.id} -> ${c.remoteId} (${c.glare}, ${c.signaling.kind})`);
      // Resolve once registered with signaling (or after a bound: the
      // client keeps trying).
      await withTimeout(peer.client.waitConnected(), 10000, 'signaling to connect').catch(() => {});
    },
    createDataChannel: (label, opts) => need().createDataChannel(label, opts),
    acceptDataChannel: (label, timeoutMs) => need().acceptDataChannel(label, timeoutMs),
    send: async (ref, b64) => need().sendOn(ref, b64),
    closeChannel: async (ref) => need().closeChannel(ref),
    addMedia: (spec) => need().addMedia(spec),
    lock: (token) => need().lockFor(token),
    unlock: async (token, ok) => { if (peer) await peer.unlock(token, ok); },
    lockWaiting: () => (peer ? peer.lock.waiting() : 0),
    restart: () => need().restart(),
    stats: () => need().stats(),
    // close resolves with the seq of the last event sent (the bye's
    // signal-out on the bridge included).
    close: async () => { if (peer) await peer.close(true); return evSeq; },
    kill: () => { if (peer) { peer.teardown(); } return evSeq; },
    deliver: (msg) => {
      const c = [sclient, peer].map((x) => x && x.client).find((x) => x instanceof BridgeClient);
      if (!c) throw fail('bad-config', 'deliver: the signaling kind is not "bridge"');
      c.deliver(msg);
    },
    // The signaling client alone (browsers.ChromeClient): startClient({id,
    // signaling, connectTimeoutMs}) resolves once registered (rejects with
    // [timeout] when not within connectTimeoutMs, 10 s by default; the
    // client keeps trying); clientSend(to, type, dataJSON) resolves with an
    // event seq (SignalClient.send); clientClose resolves with the seq of
    // the last event sent. Every message received is a signal-in event.
    async startClient(cfg) {
      if (peer && !peer.closed) throw fail('bad-config', `started as the peer ${peer.id}`);
      if (sclient && !sclient.closed) throw fail('bad-config', `client already started as ${sclient.id}`);
      const c = normalizeClient(cfg);
      sclient = new SignalClient(c);
      status(`netlab signaling client ${c.id} (${c.signaling.kind})`);
      await withTimeout(sclient.client.waitConnected(), c.connectTimeoutMs, `signaling client ${c.id} to connect`);
    },
    clientSend: (to, type, dataJSON) => needClient().send(to, type, dataJSON),
    clientClose: async () => { if (sclient) sclient.close(); return evSeq; },
    // For tests: an uncaught exception on purpose (the Go side must see it).
    throwUncaught: (text) => { setTimeout(() => { throw new Error(text || 'netlab: uncaught on purpose'); }, 0); },
  });
  sendEvent({ type: 'page-load', detail: location.href });
})();

// The portal widget. One tag adds a floating chat button and panel to any page:
//   <script src="http://SERVICE/static/widget.js" data-api-key="READER_KEY"></script>
// The panel is an iframe of the service's own page (/?embed=1): the portal needs no CORS set-up and
// the two pages' styles cannot clash. The key goes in the iframe's URL fragment, which browsers
// never send to the server, so it stays out of access logs.
(() => {
  const script = document.currentScript;
  if (!script || window.__qaWidget) return; // a second copy of the tag adds nothing
  window.__qaWidget = true;

  const base = script.src.replace(/\/static\/widget\.js(?:[?#].*)?$/, '');
  const origin = new URL(base).origin;
  const key = script.dataset.apiKey || '';
  const title = script.dataset.title || '政务知识问答';

  const CHAT = 'M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z';
  const CLOSE = 'M18 6 6 18M6 6l12 12';
  const host = document.createElement('div');
  host.setAttribute('data-qa-widget', '');
  // A shadow root keeps the portal's CSS off the button and the button's CSS off the portal.
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>
    :host { all: initial; }
    .fab { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; display: grid; place-items: center;
      width: 56px; height: 56px; border: 0; border-radius: 50%; background: #1a56c4; color: #fff; cursor: pointer;
      box-shadow: 0 6px 20px rgba(16, 24, 40, .28); transition: transform .15s, background .15s; }
    .fab:hover { background: #133f91; transform: translateY(-1px); }
    .fab:focus-visible { outline: 3px solid rgba(26, 86, 196, .5); outline-offset: 3px; }
    .fab svg { width: 26px; height: 26px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
    .panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 400px; height: min(640px, calc(100vh - 112px));
      border-radius: 16px; overflow: hidden; background: #fff; box-shadow: 0 16px 48px rgba(16, 24, 40, .28); }
    .panel[hidden] { display: none; }
    iframe { display: block; width: 100%; height: 100%; border: 0; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
      .open .fab { display: none; }
    }
  </style>
  <div class="wrap">
    <div class="panel" role="dialog" hidden></div>
    <button class="fab" type="button" aria-expanded="false"><svg viewBox="0 0 24 24" aria-hidden="true"><path></path></svg></button>
  </div>`;
  const wrap = root.querySelector('.wrap');
  const panel = root.querySelector('.panel');
  const fab = root.querySelector('.fab');
  const icon = fab.querySelector('path');
  panel.setAttribute('aria-label', title);
  let frame = null;

  function show(open) {
    if (open && !frame) { // the chat loads on first open, not with every portal page
      frame = document.createElement('iframe');
      frame.title = title;
      frame.allow = 'clipboard-write';
      frame.src = `${base}/?embed=1${key ? `#key=${encodeURIComponent(key)}` : ''}`;
      panel.append(frame);
    }
    panel.hidden = !open;
    wrap.classList.toggle('open', open);
    fab.setAttribute('aria-expanded', String(open));
    fab.setAttribute('aria-label', open ? `关闭${title}` : `打开${title}`);
    icon.setAttribute('d', open ? CLOSE : CHAT);
    if (open) frame.focus();
    else fab.focus();
  }

  fab.addEventListener('click', () => show(panel.hidden));
  // The embedded page's own close button (the only one on a phone, where the panel is full screen).
  window.addEventListener('message', (e) => {
    if (e.origin === origin && e.data && e.data.type === 'qa-widget:close') show(false);
  });
  fab.setAttribute('aria-label', `打开${title}`);
  icon.setAttribute('d', CHAT);
  if (document.body) document.body.append(host);
  else document.addEventListener('DOMContentLoaded', () => document.body.append(host));
})();

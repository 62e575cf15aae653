import { createHash } from 'node:crypto';

/**
 * The UI's only static files, shipped as strings inside the package: no build step, no external
 * fonts or CDNs (registries run air-gapped). Served under content-hashed names with a year-long
 * immutable cache; a new version changes the name.
 */

const CSS = `
:root{--bg:#f7f8fa;--fg:#1c2330;--muted:#5d6878;--card:#fff;--line:#dde2ea;--accent:#1f6feb;--accent-fg:#fff;--danger:#c62828;--chip:#eef2f8;--code:#f0f3f7;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--fg:#e3e8ef;--muted:#97a3b4;--card:#161d27;--line:#2a3443;--accent:#4b93ff;--accent-fg:#0b1220;--danger:#ff6b6b;--chip:#223044;--code:#1d2633}}
*{box-sizing:border-box}
html{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,sans-serif;background:var(--bg);color:var(--fg)}
body{margin:0}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
a:focus-visible,button:focus-visible,input:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
header.top{display:flex;flex-wrap:wrap;gap:.75rem 1.25rem;align-items:center;padding:.7rem 1.25rem;background:var(--card);border-bottom:1px solid var(--line)}
.brand{font-weight:700;color:var(--fg);font-size:1.05rem;display:flex;gap:.45rem;align-items:center}
.brand .logo{display:inline-block;width:1.15rem;height:1.15rem;border-radius:4px;background:linear-gradient(135deg,var(--accent),#7c4dff)}
header.top form{flex:1 1 16rem;display:flex;max-width:34rem}
header.top .who{margin-left:auto;display:flex;gap:.6rem;align-items:center;color:var(--muted);white-space:nowrap}
main{max-width:1200px;margin:0 auto;padding:1.25rem}
h1{font-size:1.45rem;margin:.2rem 0 1rem;word-break:break-all}
h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
h3{font-size:.95rem;margin:1.1rem 0 .4rem;color:var(--muted)}
.crumbs{color:var(--muted);font-size:.9rem;margin-bottom:.3rem;word-break:break-all}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.5rem .75rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;white-space:nowrap}
.name{word-break:break-all;font-weight:600}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
code{background:var(--code);padding:.1rem .3rem;border-radius:4px;word-break:break-all}
.chip{display:inline-block;background:var(--chip);border-radius:999px;padding:0 .55rem;font-size:.8rem;margin:0 .25rem .2rem 0;white-space:nowrap}
.muted{color:var(--muted)}
input[type=search],input[type=text],input[type=password]{flex:1;min-width:0;font:inherit;padding:.45rem .65rem;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}
button,.button{font:inherit;padding:.45rem .9rem;border-radius:8px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;display:inline-block}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}
button.danger,.button.danger{color:var(--danger);border-color:var(--danger)}
button.danger.solid{background:var(--danger);color:#fff}
form.inline{display:inline}
.searchbar{display:flex;gap:.5rem;margin:0 0 1rem}
.pager{display:flex;gap:.75rem;align-items:center;justify-content:flex-end;margin:.8rem 0;color:var(--muted)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0;padding:.9rem 1rem}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;word-break:break-all}
.pull{display:flex;gap:.5rem;align-items:center;padding:.45rem .75rem;border-bottom:1px solid var(--line)}
.pull:last-child{border-bottom:0}
.pull code{flex:1;background:none;padding:0}
.copy{font-size:.8rem;padding:.2rem .6rem}
.notice{padding:.8rem 1rem;border-radius:8px;background:var(--chip);margin:0 0 1rem}
.mirror{margin-top:1.5rem}.mirror h2{font-size:1rem;margin:0 0 .5rem}
.error{border-left:4px solid var(--danger)}
.signin{max-width:24rem;margin:2rem auto;padding:1.25rem}
.signin label{display:block;margin:.6rem 0 .2rem}
.signin input{width:100%}
.signin button{margin-top:1rem;width:100%}
.line{font-weight:600}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:2rem 1rem}
@media (max-width:700px){
 main{padding:.8rem}
 th.opt,td.opt{display:none}
 th,td{padding:.45rem .5rem}
 dl.facts{grid-template-columns:1fr}
 dl.facts dt{margin-top:.4rem}
 header.top .who{margin-left:0}
}
`;

const JS = `
(function(){
  document.addEventListener('click', function(e){
    var b = e.target.closest && e.target.closest('button[data-copy]');
    if (!b) return;
    var text = b.getAttribute('data-copy');
    var done = function(){ var t = b.textContent; b.textContent = 'Copied'; setTimeout(function(){ b.textContent = t; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function(){});
    else { var ta = document.createElement('textarea'); ta.value = text; document.body.appendChild(ta); ta.select(); try { document.execCommand('copy'); done(); } catch (x) {} ta.remove(); }
  });
  document.querySelectorAll('button[data-copy][hidden]').forEach(function(b){ b.hidden = false; });
  document.addEventListener('keydown', function(e){
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target; if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) return;
    var s = document.querySelector('input[type=search]'); if (s) { e.preventDefault(); s.focus(); s.select(); }
  });
})();
`;

export interface Asset {
  path: string;
  contentType: string;
  body: Buffer;
}

function asset(name: string, ext: string, contentType: string, text: string): Asset {
  const body = Buffer.from(text.trim() + '\n');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { path: `/ui/assets/${name}.${hash}.${ext}`, contentType, body };
}

export const STYLE = asset('style', 'css', 'text/css; charset=utf-8', CSS);
export const SCRIPT = asset('app', 'js', 'text/javascript; charset=utf-8', JS);
export const ASSETS = new Map([STYLE, SCRIPT].map((a) => [a.path, a]));

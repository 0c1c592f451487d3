/*
 * viz_html.c - the page `recur viz` writes: one HTML file with inline CSS,
 * a little JavaScript and SVG drawn by it; no network, no other file.
 *
 * What the script needs is one JSON object in a <script type=
 * "application/json"> element (every '<', '>' and '&' in it written as
 * \u003c, \u003e, \u0026, so text can never close the element), with the
 * per-character numbers in one base64 block, 8 bits per value:
 *   h, g, n       in [-1, 1]  as round((v + 1) * 127.5)
 *   c             c / cscale (the track's largest |c|), the same way
 *   i, f, o, r, z in [0, 1]   as round(v * 255)
 *   probabilities             as round(p * 255)
 *   surprise      -log2 p, clamped to [0, 12] bits, as round(s / 12 * 255)
 * Text that is not numbers (the model's labels, the samples, seq2seq
 * sources) is written into the HTML with every character escaped.
 * docs/viz.md gives the page's size bound.
 */
#include "viz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- escaping */

static void html_esc(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case 0: fputs("&#xFFFD;", f); break;
        default: fputc(c, f);
        }
    }
}

static void html_str(FILE *f, const char *s) { html_esc(f, s, strlen(s)); }

// A JSON string literal safe inside <script>: no '<', '>' or '&' at all.
// raw_bytes: each byte is one character (a byte model's text, maybe not UTF-8).
static void json_str(FILE *f, const char *s, size_t n, int raw_bytes)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f || (raw_bytes && c >= 0x80))
            fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* ---------------------------------------------------------------- the blob */

typedef struct blob {
    uint8_t *b;
    size_t n, cap;
    int oom;
} blob;

static uint8_t *blob_grow(blob *b, size_t k)
{
    if (b->oom) return NULL;
    if (b->n + k > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 65536);
        while (nc < b->n + k) nc *= 2;
        uint8_t *p = realloc(b->b, nc);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->b = p, b->cap = nc;
    }
    uint8_t *at = b->b + b->n;
    b->n += k;
    return at;
}

static void base64(FILE *f, const uint8_t *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char o[4] = {a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=', i + 2 < n ? a[v & 63] : '='};
        fwrite(o, 1, 4, f);
    }
}

/* ---------------------------------------------------------------- style */

static const char css[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 18px 40px;color:#222}"
    "h1{font-size:24px;margin:18px 0 4px}h2{font-size:19px;margin:28px 0 4px;border-bottom:1px solid #ddd}"
    "p.how{margin:2px 0 10px;color:#555}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}"
    "table.info td:first-child{color:#666}.text{font:13px/1.5 ui-monospace,monospace;white-space:pre-wrap;"
    "word-break:break-all;border:1px solid #ddd;padding:8px;max-height:420px;overflow:auto}"
    ".ch{border-radius:2px}#tip{position:fixed;display:none;background:#fff;border:1px solid #888;"
    "padding:4px 8px;font:12px ui-monospace,monospace;pointer-events:none;box-shadow:0 1px 4px #0003;white-space:pre}"
    "button.unit-btn{font:12px ui-monospace,monospace;margin:1px;cursor:pointer}"
    "button.best{font-weight:bold}#picker{margin:6px 0}#picker select,#picker input{margin-right:10px}"
    "table.heat td{width:16px;height:16px;padding:0;text-align:center;font:11px ui-monospace,monospace}"
    "table.heat th{font:11px ui-monospace,monospace;padding:0 3px}table.cm td{width:auto;padding:2px 6px}"
    ".plot{display:inline-block;vertical-align:top}pre.sample{background:#f7f7f7;padding:8px;white-space:pre-wrap}svg text{font:11px sans-serif}"
    ".note{color:#a40}#viz-error{background:#fdd;padding:6px}";

/* ---------------------------------------------------------------- script */

// Reports a script error into the page itself (a headless browser's
// --dump-dom shows it): the browser test looks for #viz-error.
static const char js_onerror[] =
    "window.onerror=function(m,s,l){var d=document.createElement('div');d.id='viz-error';"
    "d.textContent='script error: '+m+' (line '+l+')';document.body.insertBefore(d,document.body.firstChild);};";

static const char *const js_main[] = {
    "(function(){\n",
    "var D=JSON.parse(document.getElementById('viz-data').textContent);\n",
    "function $(id){return document.getElementById(id);}\n",
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c];});}\n",
    "var B=new Uint8Array(0);if(D.blob){var r=atob(D.blob);B=new Uint8Array(r.length);for(var i=0;i<r.length;i++)B[i]=r.charCodeAt(i);}\n"
    // colours: diverging blue-white-red for [-1,1]; white-to-red for [0,1]
    "function div(v){v=Math.max(-1,Math.min(1,v));var f=Math.round(255*(1-0.75*Math.abs(v)));"
    "return 'rgb('+(v>0?255:f)+','+f+','+(v<0?255:f)+')';}\n",
    "function heat(v){v=Math.max(0,Math.min(1,v));return 'rgb(255,'+Math.round(255-150*v)+','+Math.round(255-230*v)+')';}\n",
    "var tip=$('tip');function showTip(e,t){tip.textContent=t;tip.style.display='block';"
    "tip.style.left=Math.min(e.clientX+14,innerWidth-260)+'px';tip.style.top=(e.clientY+16)+'px';}\n",
    "function hideTip(){tip.style.display='none';}\n",
    "function shown(c){return c==='\\n'?'\\u21b5\\n':c;}\n",
    "function spans(box){var out=[];for(var i=0;i<D.n;i++){var s=document.createElement('span');"
    "s.className='ch';s.textContent=shown(D.chars[i]);s.dataset.i=i;box.appendChild(s);out.push(s);}return out;}\n",
    "function vname(c){return c==='\\n'?'\\\\n':c===' '?'space':c==='\\t'?'\\\\t':c;}\n"
    // section 2: learning curves
    "function plot(box,title,xs,series,yl,yr,rmul,W){W=W||720;var H=240,L=60,R=60,T=22,Bm=34;"
    "var x0=Infinity,x1=-Infinity,y0=Infinity,y1=-Infinity;xs.forEach(function(x){x0=Math.min(x0,x);x1=Math.max(x1,x);});"
    "series.forEach(function(s){s.v.forEach(function(v){if(v!==null){y0=Math.min(y0,v);y1=Math.max(y1,v);}});});"
    "if(!(x1>x0))x1=x0+1;if(!(y1>y0)){var e=Math.abs(y0)*0.1||1;y0-=e;y1+=e;}var pad=(y1-y0)*0.05;y0-=pad;y1+=pad;"
    "function X(x){return L+(x-x0)/(x1-x0)*(W-L-R);}function Y(y){return T+(1-(y-y0)/(y1-y0))*(H-T-Bm);}\n",
    "var g='<svg width=\"'+W+'\" height=\"'+H+'\" viewBox=\"0 0 '+W+' '+H+'\"><rect x=\"'+L+'\" y=\"'+T+'\" width=\"'+(W-L-R)+'\" height=\"'+(H-T-Bm)+'\" fill=\"#fafafa\" stroke=\"#ccc\"/>';\n",
    "for(var k=0;k<=4;k++){var yv=y0+(y1-y0)*k/4,yy=Y(yv);g+='<line x1=\"'+L+'\" x2=\"'+(W-R)+'\" y1=\"'+yy+'\" y2=\"'+yy+'\" stroke=\"#e4e4e4\"/>';"
    "g+='<text x=\"'+(L-4)+'\" y=\"'+(yy+4)+'\" text-anchor=\"end\">'+yv.toPrecision(3)+'</text>';"
    "if(rmul)g+='<text x=\"'+(W-R+4)+'\" y=\"'+(yy+4)+'\">'+(yv*rmul).toPrecision(3)+'</text>';"
    "var xv=x0+(x1-x0)*k/4;g+='<text x=\"'+X(xv)+'\" y=\"'+(H-Bm+14)+'\" text-anchor=\"middle\">'+Math.round(xv)+'</text>';}\n",
    "g+='<text x=\"'+L+'\" y=\"14\">'+esc(title)+'</text><text x=\"'+(W-R)+'\" y=\"'+(H-4)+'\" text-anchor=\"end\">step</text>';"
    "g+='<text x=\"4\" y=\"'+(T-6)+'\">'+esc(yl)+'</text>';if(yr)g+='<text x=\"'+(W-4)+'\" y=\"'+(T-6)+'\" text-anchor=\"end\">'+esc(yr)+'</text>';\n",
    "series.forEach(function(s,si){var d='';var pen=0;for(var i=0;i<xs.length;i++){var v=s.v[i];if(v===null)continue;"
    "d+=(pen?'L':'M')+X(xs[i]).toFixed(1)+' '+Y(v).toFixed(1);pen=1;}"
    "g+='<path d=\"'+d+'\" fill=\"none\" stroke=\"'+s.c+'\" stroke-width=\"'+(s.w||1.2)+'\"/>';"
    "g+='<text x=\"'+(L+10+si*150)+'\" y=\"'+(T+14)+'\" fill=\"'+s.c+'\">'+esc(s.n)+'</text>';});\n",
    "g+='<line class=\"cursor\" y1=\"'+T+'\" y2=\"'+(H-Bm)+'\" stroke=\"#888\" visibility=\"hidden\"/></svg>';\n",
    "var d=document.createElement('div');d.className='plot';d.innerHTML=g;box.appendChild(d);var svg=d.firstChild,cur=svg.querySelector('.cursor');\n",
    "svg.addEventListener('mousemove',function(e){var rc=svg.getBoundingClientRect(),x=x0+(e.clientX-rc.left-L)/(W-L-R)*(x1-x0);"
    "var lo=0,hi=xs.length-1;while(lo<hi){var m=(lo+hi)>>1;if(xs[m]<x)lo=m+1;else hi=m;}"
    "if(lo>0&&Math.abs(xs[lo-1]-x)<Math.abs(xs[lo]-x))lo--;cur.setAttribute('x1',X(xs[lo]));cur.setAttribute('x2',X(xs[lo]));"
    "cur.setAttribute('visibility','visible');var t='step '+xs[lo];series.forEach(function(s){if(s.v[lo]!==null)t+='\\n'+s.n+': '+s.v[lo].toPrecision(4)+"
    "(rmul&&s.bits?' ('+(s.v[lo]*rmul).toPrecision(4)+' bits)':'');});showTip(e,t);});\n",
    "svg.addEventListener('mouseleave',function(){cur.setAttribute('visibility','hidden');hideTip();});}\n",
    "if(D.log&&$('curves-plot')){var G=D.log,lb=1/Math.log(2);"
    "plot($('curves-plot'),'loss (nats/char, left; bits/char, right)',G.step,[{n:'train loss',v:G.train,c:'#4a7bd0',bits:1},"
    "{n:'validation loss',v:G.val,c:'#e0662a',w:2.2,bits:1}],'nats/char','bits/char',lb);"
    "plot($('curves-plot'),'learning rate',G.step,[{n:'learning rate',v:G.lr,c:'#2a9d5c'}],'lr','',0,520);"
    "plot($('curves-plot'),'gradient norm (before clipping)',G.step,[{n:'gradient norm',v:G.gn,c:'#8a4fc0'}],'norm','',0,520);}\n"
    // section 3: surprise and the top 5
    "if(D.expects&&$('expects-text')){var E=D.expects,S=spans($('expects-text'));"
    "for(var i=1;i<D.n;i++)S[i].style.background=heat(B[E.surprise+i]/255);\n",
    "$('expects-text').addEventListener('mousemove',function(e){var s=e.target;if(!s.dataset||s.dataset.i===undefined){hideTip();return;}"
    "var i=+s.dataset.i;if(i<1){showTip(e,'the first character: nothing predicted it');return;}"
    "var t='after '+JSON.stringify(D.chars.slice(Math.max(0,i-12),i).join(''))+'\\nthe model expected:';"
    "for(var k=0;k<5;k++){var o=E.top+((i*5+k)*3);var id=B[o]|B[o+1]<<8;t+='\\n  '+vname(D.vocab[id])+'  '+(B[o+2]/255).toFixed(3);}"
    "t+='\\nit got '+vname(D.chars[i])+': p = '+(B[E.pactual+i]/255).toFixed(3)+', '+(B[E.surprise+i]/255*12).toFixed(2)+' bits of surprise';showTip(e,t);});"
    "$('expects-text').addEventListener('mouseleave',hideTip);}\n"
    // section 4: one unit at a time
    "if(D.tracks&&$('cells-text')){var C=spans($('cells-text')),TR=D.tracks,ls=$('pick-layer'),us=$('pick-unit'),vs=$('pick-value'),st=$('pick-status');\n",
    "var layers={};TR.forEach(function(t){layers[t[0]+':'+t[1]]=1;});Object.keys(layers).forEach(function(k){var p=k.split(':');"
    "var o=document.createElement('option');o.value=k;o.textContent='layer '+p[0]+(D.dirs>1?(p[1]==='1'?' reverse':' forward'):'');ls.appendChild(o);});\n",
    "function find(l,d,u){for(var i=0;i<TR.length;i++)if(TR[i][0]==l&&TR[i][1]==d&&TR[i][2]==u)return i;return -1;}\n",
    "function show(){var p=ls.value.split(':'),u=+us.value,k=find(+p[0],+p[1],u);if(k<0){st.textContent='unit '+u+' of layer '+p[0]+' is not in this page (recur viz --layer '+p[0]+' embeds every unit of it)';"
    "C.forEach(function(s){s.style.background='';});return;}var t=TR[k],w=vs.value,j=t[3].indexOf(w);if(j<0){j=0;vs.value=t[3][0];w=vs.value;}"
    "var off=t[5]+j*D.n,sym=(w==='h'||w==='c');for(var i=0;i<D.n;i++){var q=B[off+i];C[i].style.background=div(sym?q/127.5-1:q/127.5-1);"
    "C[i].dataset.v=sym?(w==='c'?((q/127.5-1)*t[4]).toFixed(3):(q/127.5-1).toFixed(3)):(q/255).toFixed(3);}"
    "st.textContent='layer '+t[0]+', unit '+t[2]+', '+w+(w==='c'?' (scaled by its largest |c| = '+t[4].toPrecision(3)+')':'')+': blue low, white middle, red high';}\n",
    "[ls,us,vs].forEach(function(e){e.addEventListener('change',show);e.addEventListener('input',show);});\n",
    "document.querySelectorAll('button.unit-btn').forEach(function(b){b.addEventListener('click',function(){ls.value=b.dataset.layer+':'+b.dataset.dir;"
    "us.value=b.dataset.unit;vs.value=b.dataset.value;show();$('cells-text').scrollIntoView({block:'nearest'});});});\n",
    "$('cells-text').addEventListener('mousemove',function(e){var s=e.target;if(s.dataset&&s.dataset.v!==undefined)showTip(e,vname(D.chars[+s.dataset.i])+': '+vs.value+' = '+s.dataset.v);else hideTip();});"
    "$('cells-text').addEventListener('mouseleave',hideTip);\n",
    "ls.value=D.init[0]+':'+D.init[1];us.value=D.init[2];vs.value=D.init[3];show();}\n"
    // section 5: saturation scatter
    "if(D.sat&&$('sat-plots')){var Q=D.sat,box=$('sat-plots');for(var l=0;l<D.layers*D.dirs;l++){var row=document.createElement('div');"
    "row.innerHTML='<b>layer '+Math.floor(l/D.dirs)+(D.dirs>1?(l%2?' reverse':' forward'):'')+'</b><br>';"
    "for(var g=0;g<Q.gates.length;g++){var W=190,P=28,s='<svg width=\"'+(W+P+8)+'\" height=\"'+(W+P+8)+'\"><rect x=\"'+P+'\" y=\"4\" width=\"'+W+'\" height=\"'+W+'\" fill=\"#fafafa\" stroke=\"#bbb\"/>'"
    "+'<line x1=\"'+P+'\" y1=\"'+(4+W)+'\" x2=\"'+(P+W)+'\" y2=\"4\" stroke=\"#ddd\"/><text x=\"'+(P+4)+'\" y=\"16\">'+Q.gates[g]+' gate</text>'"
    "+'<text x=\"'+(P+W)+'\" y=\"'+(W+20)+'\" text-anchor=\"end\">fraction &lt; 0.1</text><text x=\"12\" y=\"'+(W+4)+'\" transform=\"rotate(-90 12 '+(W+4)+')\">fraction &gt; 0.9</text>';"
    "for(var u=0;u<D.hidden;u++){var o=Q.off+((l*D.hidden+u)*Q.gates.length+g)*2;s+='<circle cx=\"'+(P+B[o]/255*W).toFixed(1)+'\" cy=\"'+(4+W-B[o+1]/255*W).toFixed(1)+'\" r=\"2.2\" fill=\"#3a6fc4\" fill-opacity=\"0.55\"/>';}"
    "row.innerHTML+=s+'</svg>';}box.appendChild(row);}}\n",
    "document.body.setAttribute('data-viz','ok');\n",
    "})();\n",
};

/* ---------------------------------------------------------------- sections */

static void model_section(FILE *f, const viz_report *r)
{
    fputs("<section id=\"model\"><h2>1. The model</h2><p class=\"how\">What was trained: the cell, its size, "
          "how long, and how well it did on held-out text (lower loss is better; bits/char = nats/char / ln 2).</p>"
          "<table class=\"info\">", f);
    fputs("<tr><td>checkpoint</td><td>", f);
    html_str(f, r->ckpt);
    fputs("</td></tr>", f);
    if (r->m) {
        recur_model_info i;
        recur_model_get_info(r->m, &i);
        fprintf(f, "<tr><td>task</td><td>%s</td></tr>", recur_task_name(recur_model_task(r->m)));
        fprintf(f, "<tr><td>cell</td><td>%s%s</td></tr><tr><td>hidden units per layer</td><td>%d</td></tr>"
                   "<tr><td>layers</td><td>%d</td></tr><tr><td>input</td><td>",
                recur_cell_name(i.cell), i.relu ? " (relu)" : "", i.hidden, i.layers);
        if (i.embed) fprintf(f, "embedding of %d", i.embed);
        else fputs("one-hot", f);
        fprintf(f, "</td></tr><tr><td>dropout</td><td>%g</td></tr><tr><td>parameters</td><td>%zu</td></tr>", i.dropout, i.params);
        const recur_vocab *v = recur_model_vocab(r->m);
        fprintf(f, "<tr><td>vocabulary</td><td>%d %s: <code>", i.vocab_size, recur_vocab_is_bytes(v) ? "bytes" : "characters");
        for (int k = 0; k < i.vocab_size && k < 400; k++) {
            char u[4];
            int n = recur_vocab_char_utf8(v, k, u);
            uint32_t cp = recur_vocab_char(v, k);
            if (cp == '\n') fputs("\\n", f);
            else if (cp == '\t') fputs("\\t", f);
            else if (cp < 0x20 || (recur_vocab_is_bytes(v) && cp >= 0x80)) fprintf(f, "\\x%02X", cp);
            else html_esc(f, u, (size_t)n);
        }
        fputs("</code></td></tr>", f);
        int K = recur_model_label_count(r->m);
        if (K) {
            fprintf(f, "<tr><td>labels</td><td>%d: ", K);
            for (int k = 0; k < K && k < 200; k++) {
                if (k) fputs(", ", f);
                html_str(f, recur_model_label(r->m, k));
            }
            fputs("</td></tr>", f);
        }
        fprintf(f, "<tr><td>steps trained</td><td>%lld</td></tr>", i.steps);
        recur_task task = recur_model_task(r->m);
        const char *per = task == RECUR_TASK_CLASSIFY ? "text" : task == RECUR_TASK_TAG ? "tag" : "char";
        if (isfinite(i.best_val))
            fprintf(f, "<tr><td>best validation loss</td><td>%.4f nats/%s (%.4f bits/%s)</td></tr>", i.best_val, per,
                    i.best_val / log(2.0), per);
        else fputs("<tr><td>best validation loss</td><td>none recorded</td></tr>", f);
    } else {
        recur_seq2seq_info i;
        recur_seq2seq_get_info(r->s2s, &i);
        fprintf(f, "<tr><td>task</td><td>seq2seq (encoder-decoder%s)</td></tr><tr><td>cell</td><td>%s</td></tr>"
                   "<tr><td>hidden units per layer</td><td>%d</td></tr><tr><td>layers</td><td>%d</td></tr>"
                   "<tr><td>vocabularies</td><td>source %d, target %d</td></tr><tr><td>parameters</td><td>%zu</td></tr>"
                   "<tr><td>steps trained</td><td>%lld</td></tr>",
                i.cfg.attention ? " with attention" : "", recur_cell_name(i.cfg.cell), i.cfg.hidden, i.cfg.layers,
                i.src_vocab, i.tgt_vocab, i.params, i.steps);
        if (isfinite(i.best_val))
            fprintf(f, "<tr><td>best validation loss</td><td>%.4f nats/char; exact match %.1f %%</td></tr>", i.best_val,
                    100 * i.best_exact);
    }
    fputs("</table></section>\n", f);
}

static void curves_section(FILE *f, const viz_report *r)
{
    fputs("<section id=\"curves\"><h2>2. Learning curves</h2><p class=\"how\">Loss on the training windows and "
          "on the validation text against the optimizer step (left axis nats/char, right axis bits/char), then the "
          "learning rate and the gradient norm; hover a plot for the values at a step.</p>", f);
    if (!r->log) fputs("<p class=\"note\">No training log: pass <code>--log TRAIN.jsonl</code> (written by "
                       "<code>recur train --log</code>).</p>", f);
    fputs("<div id=\"curves-plot\"></div></section>\n", f);
}

static void ranking_table(FILE *f, const viz_report *r)
{
    static const char *const what[RECUR_FEAT_COUNT] = {
        "inside \"double quotes\"", "depth of ( [ { brackets", "position in the line",
        "indentation of the line", "inside a word", "just after a newline"};
    fputs("<table id=\"ranking\"><tr><th>feature</th><th>units that track it best (Pearson r over the text; "
          "click to show)</th></tr>", f);
    for (int k = 0; k < RECUR_FEAT_COUNT; k++) {
        fprintf(f, "<tr><td>%s</td><td>", what[k]);
        if (r->rank[k][0].layer < 0) fputs("<span class=\"note\">the text never changes this feature: nothing to track</span>", f);
        for (int j = 0; j < r->nrank; j++) {
            const viz_rank *q = &r->rank[k][j];
            if (q->layer < 0) continue;
            fprintf(f, "<button class=\"unit-btn%s\" data-feature=\"%s\" data-layer=\"%d\" data-unit=\"%d\" "
                       "data-dir=\"%d\" data-value=\"%s\">L%d%s U%d %s r=%+.2f</button>",
                    j ? "" : " best", recur_feature_name((recur_feature)k), q->layer, q->unit, q->dir,
                    recur_trace_value_name(q->what), q->layer, q->dir ? "r" : "", q->unit,
                    recur_trace_value_name(q->what), q->r);
        }
        fputs("</td></tr>", f);
    }
    fputs("</table>", f);
}

static void classify_sections(FILE *f, const viz_report *r)
{
    const int K = recur_model_label_count(r->m);
    long long total = 0, right = 0;
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) total += r->confusion[(size_t)a * K + b], right += a == b ? r->confusion[(size_t)a * K + b] : 0;
    fprintf(f, "<section id=\"confusion\"><h2>Confusion matrix</h2><p class=\"how\">Each row is the true label of the "
               "lines of TEXT, each column the model's answer; the shade is the share of the row (the diagonal is right). "
               "Accuracy %.1f %% over %lld lines.</p><table class=\"heat cm\"><tr><th>true \\ predicted</th>",
            total ? 100.0 * right / total : 0.0, total);
    for (int b = 0; b < K; b++) {
        fputs("<th>", f);
        html_str(f, recur_model_label(r->m, b));
        fputs("</th>", f);
    }
    fputs("</tr>", f);
    for (int a = 0; a < K; a++) {
        long long row = 0;
        for (int b = 0; b < K; b++) row += r->confusion[(size_t)a * K + b];
        fputs("<tr><th>", f);
        html_str(f, recur_model_label(r->m, a));
        fputs("</th>", f);
        for (int b = 0; b < K; b++) {
            long long c = r->confusion[(size_t)a * K + b];
            double s = row ? (double)c / row : 0;
            fprintf(f, "<td style=\"background:rgb(%d,%d,255)\">%lld</td>", (int)(255 - 200 * s), (int)(255 - 160 * s), c);
        }
        fputs("</tr>", f);
    }
    fputs("</table></section>\n<section id=\"class-probs\"><h2>Class probabilities, character by character</h2>"
          "<p class=\"how\">For a few lines of TEXT, the probability of each label after every character (the model "
          "run on each prefix): watch the answer form as the text is read. Darker is more likely; the labels shown "
          "are the six that are ever most likely.</p>", f);
    for (int e = 0; e < r->nexamples; e++) {
        const float *p = r->ex_probs[e];
        const int n = r->ex_len[e];
        // The labels worth a row: the six with the largest probability anywhere.
        float *mx = calloc((size_t)K, sizeof(float));
        int rows[6], nr = 0;
        if (!mx) continue;
        for (int t = 0; t < n; t++)
            for (int k = 0; k < K; k++) mx[k] = p[(size_t)t * K + k] > mx[k] ? p[(size_t)t * K + k] : mx[k];
        for (; nr < 6 && nr < K; nr++) {
            int best = -1;
            for (int k = 0; k < K; k++) {
                int taken = 0;
                for (int j = 0; j < nr; j++) taken |= rows[j] == k;
                if (!taken && (best < 0 || mx[k] > mx[best])) best = k;
            }
            rows[nr] = best;
        }
        free(mx);
        fputs("<p>true label <b>", f);
        html_str(f, recur_model_label(r->m, r->ex_label[e]));
        fputs("</b></p><table class=\"heat\"><tr><th></th>", f);
        for (int t = 0; t < n; t++) {
            fputs("<th>", f);
            html_esc(f, r->ex_text[e] + r->ex_off[e][t], (size_t)(r->ex_off[e][t + 1] - r->ex_off[e][t]));
            fputs("</th>", f);
        }
        fputs("</tr>", f);
        for (int j = 0; j < nr; j++) {
            fputs("<tr><th>", f);
            html_str(f, recur_model_label(r->m, rows[j]));
            fputs("</th>", f);
            for (int t = 0; t < n; t++) {
                float q = p[(size_t)t * K + rows[j]];
                fprintf(f, "<td title=\"%.3f\" style=\"background:rgb(%d,%d,255)\"></td>", q, (int)(255 - 220 * q), (int)(255 - 170 * q));
            }
            fputs("</tr>", f);
        }
        fputs("</table>", f);
    }
    fputs("</section>\n", f);
}

static void attention_section(FILE *f, const viz_report *r)
{
    fputs("<section id=\"attention\"><h2>Attention</h2><p class=\"how\">For the first sources of TEXT (one per line), "
          "where the decoder looked while writing its prediction: source characters across, output characters down "
          "(the last of each is the end marker); darker is more weight, each row sums to 1.</p>", f);
    if (!r->nattn) fputs("<p class=\"note\">This model has no attention (or TEXT has no lines to translate).</p>", f);
    for (int k = 0; k < r->nattn; k++) {
        const char *src = r->at_src[k], *out = r->at_out[k];
        fputs("<p><code>", f);
        html_str(f, src);
        fputs("</code> &rarr; <code>", f);
        html_str(f, out);
        fputs("</code></p><table class=\"heat\"><tr><th></th>", f);
        // Characters of the source, then the end marker.
        size_t sl = strlen(src), ol = strlen(out);
        for (size_t i = 0; i < sl;) {
            size_t j = i + 1;
            while (j < sl && ((unsigned char)src[j] & 0xC0) == 0x80) j++;
            fputs("<th>", f);
            html_esc(f, src + i, j - i);
            fputs("</th>", f);
            i = j;
        }
        fputs("<th>&#9632;</th></tr>", f);
        const int C = r->at_cols[k];
        size_t i = 0;
        for (int row = 0; row < r->at_rows[k]; row++) {
            fputs("<tr><th>", f);
            if (i < ol) {
                size_t j = i + 1;
                while (j < ol && ((unsigned char)out[j] & 0xC0) == 0x80) j++;
                html_esc(f, out + i, j - i);
                i = j;
            } else fputs("&#9632;", f);
            fputs("</th>", f);
            for (int c = 0; c < C; c++) {
                float w = r->at_w[k][(size_t)row * C + c];
                fprintf(f, "<td title=\"%.3f\" style=\"background:rgb(%d,%d,%d)\"></td>", w, (int)(255 - 200 * w),
                        (int)(255 - 120 * w), (int)(255 - 40 * w));
            }
            fputs("</tr>", f);
        }
        fputs("</table>", f);
    }
    fputs("</section>\n", f);
}

/* ---------------------------------------------------------------- data */

// The per-character numbers: text, surprise and top 5 (language models),
// tracks, saturation; offsets into the blob go into the JSON.
static void write_data(FILE *f, const viz_report *r, blob *b)
{
    const recur_trace *t = r->tr;
    const int n = recur_trace_steps(t), raw = recur_vocab_is_bytes(recur_model_vocab(r->m));
    const int V = recur_trace_outputs(t), lm = V == recur_vocab_size(recur_model_vocab(r->m)) &&
                                               (recur_model_task(r->m) == RECUR_TASK_LM || recur_model_task(r->m) == RECUR_TASK_CONDLM);
    recur_model_info mi;
    recur_model_get_info(r->m, &mi);
    fprintf(f, "\"n\":%d,\"layers\":%d,\"dirs\":%d,\"hidden\":%d,\"cell\":\"%s\",\"chars\":[", n, mi.layers,
            recur_trace_directions(t), mi.hidden, recur_cell_name(mi.cell));
    for (int s = 0; s < n; s++) {
        size_t off;
        int nb;
        recur_trace_char(t, s, &off, &nb);
        if (s) fputc(',', f);
        json_str(f, r->text + off, (size_t)nb, raw);
    }
    fputs("],\"vocab\":[", f);
    const recur_vocab *v = recur_model_vocab(r->m);
    for (int k = 0; k < recur_vocab_size(v); k++) {
        char u[4];
        int nb = recur_vocab_char_utf8(v, k, u);
        if (k) fputc(',', f);
        json_str(f, u, (size_t)nb, raw);
    }
    fputs("]", f);
    if (lm) {
        // surprise[n], pactual[n], then top 5 per step as (id lo, id hi, p).
        size_t s0 = b->n;
        uint8_t *sp = blob_grow(b, (size_t)n * 2 + (size_t)n * 15);
        if (sp) {
            uint8_t *pa = sp + n, *top = sp + 2 * (size_t)n;
            memset(sp, 0, (size_t)n * 17);
            for (int s = 1; s < n; s++) {
                const float *p = recur_trace_probs(t, s - 1);
                int id = recur_trace_char(t, s, NULL, NULL);
                double bits = -log2((double)p[id] > 1e-30 ? (double)p[id] : 1e-30);
                sp[s] = viz_q_unit((float)(bits / 12.0));
                pa[s] = viz_q_unit(p[id]);
                int best[5] = {-1, -1, -1, -1, -1};
                for (int k = 0; k < V; k++) {
                    int j = 5;
                    while (j > 0 && (best[j - 1] < 0 || p[k] > p[best[j - 1]])) j--;
                    if (j == 5) continue;
                    memmove(best + j + 1, best + j, sizeof(int) * (size_t)(4 - j));
                    best[j] = k;
                }
                for (int k = 0; k < 5; k++) {
                    uint8_t *o = top + ((size_t)s * 5 + k) * 3;
                    int id5 = best[k] < 0 ? 0 : best[k];
                    o[0] = (uint8_t)(id5 & 255), o[1] = (uint8_t)(id5 >> 8), o[2] = viz_q_unit(best[k] < 0 ? 0 : p[id5]);
                }
            }
        }
        fprintf(f, ",\"expects\":{\"surprise\":%zu,\"pactual\":%zu,\"top\":%zu}", s0, s0 + (size_t)n, s0 + 2 * (size_t)n);
    }
    // Tracks: [layer, dir, unit, values, cscale, offset], each value n bytes.
    fputs(",\"tracks\":[", f);
    for (int k = 0; k < r->ntracks; k++) {
        const viz_track *tk = &r->tracks[k];
        size_t off = b->n;
        uint8_t *q = blob_grow(b, (size_t)tk->nvals * n);
        char names[8] = {0};
        for (int j = 0; j < tk->nvals; j++) {
            names[j] = recur_trace_value_name(tk->vals[j])[0];
            for (int s = 0; s < n && q; s++) {
                float x = recur_trace_get(t, tk->vals[j], s, tk->layer, tk->dir)[tk->unit];
                q[(size_t)j * n + s] = tk->vals[j] == RECUR_TRACE_H ? viz_q_sym(x)
                                     : tk->vals[j] == RECUR_TRACE_C ? viz_q_sym(x / tk->cscale)
                                                                    : viz_q_unit(x);
            }
        }
        fprintf(f, "%s[%d,%d,%d,\"%s\",%.9g,%zu]", k ? "," : "", tk->layer, tk->dir, tk->unit, names, tk->cscale, off);
    }
    fputs("]", f);
    // The unit shown first: the best for the first feature some unit tracks well.
    int fi = 0;
    for (int k = 0; k < RECUR_FEAT_COUNT; k++)
        if (r->rank[k][0].layer >= 0 && fabsf(r->rank[k][0].r) > fabsf(r->rank[fi][0].r)) fi = k;
    const viz_rank *q0 = &r->rank[fi][0];
    fprintf(f, ",\"init\":[%d,%d,%d,\"%s\"]", q0->layer < 0 ? 0 : q0->layer, q0->dir, q0->unit,
            recur_trace_value_name(q0->what));
    // Saturation: per unit (l*D+d)*H+j and gate, (fraction < 0.1, fraction > 0.9).
    recur_trace_value gates[3];
    int ng = 0;
    if (mi.cell == RECUR_CELL_LSTM) gates[0] = RECUR_TRACE_I, gates[1] = RECUR_TRACE_F, gates[2] = RECUR_TRACE_O, ng = 3;
    if (mi.cell == RECUR_CELL_GRU) gates[0] = RECUR_TRACE_R, gates[1] = RECUR_TRACE_Z, ng = 2;
    if (ng && recur_trace_get(t, gates[0], 0, 0, 0)) {
        const int D = recur_trace_directions(t), H = mi.hidden;
        size_t off = b->n;
        uint8_t *q = blob_grow(b, (size_t)mi.layers * D * H * ng * 2);
        for (int u = 0; u < mi.layers * D && q; u++)
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < H; j++) {
                    int lo = 0, hi = 0;
                    for (int s = 0; s < n; s++) {
                        float x = recur_trace_get(t, gates[g], s, u / D, u % D)[j];
                        lo += x < 0.1f, hi += x > 0.9f;
                    }
                    uint8_t *o = q + (((size_t)u * H + j) * ng + g) * 2;
                    o[0] = viz_q_unit((float)lo / n), o[1] = viz_q_unit((float)hi / n);
                }
        fprintf(f, ",\"sat\":{\"gates\":\"%s\",\"off\":%zu}", ng == 3 ? "ifo" : "rz", off);
    }
}

static void write_log(FILE *f, const viz_log *g)
{
    // At most about 2000 training points (every k-th line); every validation point.
    int k = g->n > 2000 ? (g->n + 1999) / 2000 : 1;
    const double *cols[5] = {g->step, g->train, g->val, g->lr, g->gn};
    static const char *const names[5] = {"step", "train", "val", "lr", "gn"};
    fputs("\"log\":{", f);
    for (int c = 0; c < 5; c++) {
        fprintf(f, "%s\"%s\":[", c ? "," : "", names[c]);
        int first = 1;
        for (int i = 0; i < g->n; i++) {
            if (i % k && i != g->n - 1 && isnan(g->val[i])) continue;
            if (!first) fputc(',', f);
            first = 0;
            json_num(f, cols[c][i]);
        }
        fputc(']', f);
    }
    fputc('}', f);
}

/* ---------------------------------------------------------------- the page */

int viz_write_html(FILE *f, const viz_report *r)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>recur viz: ", f);
    html_str(f, r->ckpt ? r->ckpt : r->log_path);
    fprintf(f, "</title><style>%s</style></head>\n<body><h1>recur viz</h1><p class=\"how\">", css);
    if (r->ckpt) {
        html_str(f, r->ckpt);
        fputs(" on ", f);
        html_str(f, r->text_path);
        if (r->tr) fprintf(f, " (the first %d characters)", recur_trace_steps(r->tr));
        if (r->tr && recur_trace_skipped(r->tr)) fprintf(f, ", %lld characters outside the vocabulary left out", recur_trace_skipped(r->tr));
    } else {
        fputs("training log ", f);
        html_str(f, r->log_path);
    }
    fputs(". Written by recur " RECUR_VERSION "; everything is in this one file.</p>\n", f);
    fputs("<script>", f);
    fputs(js_onerror, f);
    fputs("</script>\n", f);

    if (r->ckpt) model_section(f, r);
    curves_section(f, r);
    const int lm = r->m && r->tr && recur_model_task(r->m) != RECUR_TASK_TAG;
    if (r->m && r->tr) {
        if (lm)
            fputs("<section id=\"expects\"><h2>3. What the model expects</h2><p class=\"how\">Each character shaded by the "
                  "model's surprise at it, -log2 p (white: expected, red: 12 bits or more); hover a character for the five "
                  "characters the model found most likely there.</p><div class=\"text\" id=\"expects-text\"></div></section>\n", f);
        fputs("<section id=\"cells\"><h2>4. Inside the cells</h2><p class=\"how\">The text coloured by one unit's value "
              "at each character (h: the unit's output; c: an LSTM's cell state; i, f, o or r, z: its gates): blue low, "
              "white middle, red high. Pick a layer, unit and value, or click a unit below: they are ranked by how well "
              "they follow simple features of the text.</p>", f);
        ranking_table(f, r);
        fputs("<div id=\"picker\"><label>layer <select id=\"pick-layer\"></select></label><label>unit <input id=\"pick-unit\" "
              "type=\"number\" min=\"0\"", f);
        recur_model_info mi;
        recur_model_get_info(r->m, &mi);
        fprintf(f, " max=\"%d\" value=\"0\"></label><label>value <select id=\"pick-value\">", mi.hidden - 1);
        fputs("<option value=\"h\">h (output)</option>", f);
        if (mi.cell == RECUR_CELL_LSTM)
            fputs("<option value=\"c\">c (cell state)</option><option value=\"i\">i (input gate)</option>"
                  "<option value=\"f\">f (forget gate)</option><option value=\"o\">o (output gate)</option>", f);
        if (mi.cell == RECUR_CELL_GRU)
            fputs("<option value=\"r\">r (reset gate)</option><option value=\"z\">z (update gate)</option>", f);
        fputs("</select></label><span id=\"pick-status\"></span></div><div class=\"text\" id=\"cells-text\"></div></section>\n", f);
        if (mi.cell != RECUR_CELL_RNN)
            fputs("<section id=\"saturation\"><h2>5. Gate saturation</h2><p class=\"how\">Each dot is one unit: how often "
                  "its gate is nearly closed (&lt; 0.1, across) and nearly open (&gt; 0.9, up) over the text. Dots near the "
                  "left-top edge are switches, dots near the origin work in between.</p><div id=\"sat-plots\"></div></section>\n", f);
        else
            fputs("<section id=\"saturation\"><h2>5. Gate saturation</h2><p class=\"how\">A vanilla RNN has no gates.</p></section>\n", f);
    }
    if (r->samples[0]) {
        static const char *const temps[3] = {"0.5", "0.8", "1.0"};
        fputs("<section id=\"samples\"><h2>6. Samples</h2><p class=\"how\">Text the model writes, starting after a newline: "
              "at a low temperature it plays safe and repeats itself, at 1.0 it draws from its own distribution.</p>", f);
        for (int k = 0; k < 3; k++) {
            fprintf(f, "<h3>temperature %s</h3><pre class=\"sample\">", temps[k]);
            html_str(f, r->samples[k]);
            fputs("</pre>", f);
        }
        fputs("</section>\n", f);
    }
    if (r->m && r->confusion) classify_sections(f, r);
    if (r->s2s) attention_section(f, r);
    fputs("<div id=\"tip\"></div>\n<script type=\"application/json\" id=\"viz-data\">{", f);
    blob b = {0};
    int comma = 0;
    if (r->m && r->tr) {
        write_data(f, r, &b);
        comma = 1;
    }
    if (r->log) {
        if (comma) fputc(',', f);
        write_log(f, r->log);
        comma = 1;
    }
    if (b.n) {
        fputs(comma ? ",\"blob\":\"" : "\"blob\":\"", f);
        base64(f, b.b, b.n);
        fputc('"', f);
    }
    fputs("}</script>\n<script>", f);
    for (size_t k = 0; k < sizeof js_main / sizeof js_main[0]; k++) fputs(js_main[k], f);
    fputs("</script></body></html>\n", f);
    int oom = b.oom;
    free(b.b);
    return oom || ferror(f) ? -1 : 0;
}

"""The report page's style and its few lines of script (sortable, paged tables), inline so the
page opens offline."""

from __future__ import annotations

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9em}.meta li{margin:.1em 0}code{font-size:.9em}
.banner{padding:.7em 1em;border-radius:4px;margin:1em 0;font-weight:600}
.banner ul{font-weight:400;margin:.4em 0 0}
.bad{background:#fdecea;border:1px solid #c62828;color:#8e1c1c}
.good{background:#e8f5e9;border:1px solid #2e7d32;color:#1b5e20}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.fail td{background:#fdecea}tr.skip td{color:#888}
tr.text td{background:#fff8f7;text-align:left;font-family:ui-monospace,monospace;font-size:.95em}
.worse{color:#c62828}.better{color:#2e7d32}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.al{line-height:2.3;text-align:left;font-family:ui-monospace,monospace;font-size:.92em;max-width:60em}
.al b{display:inline-block;vertical-align:top;line-height:1.15;text-align:center;font-weight:400;
padding:0 .15em;border-radius:3px}
.al b em{display:block;font-style:normal;font-size:.9em}
.al .s{background:#fff3e0}.al .s em{color:#e65100}
.al .d{background:#fdecea;color:#b71c1c;text-decoration:line-through}.al .d em{text-decoration:none}
.al .n{background:#e3f2fd}.al .n em{color:#0d47a1}
.al span.who{display:inline-block;width:5.5em;color:#777;font-family:system-ui,sans-serif}
details summary{cursor:pointer;color:#1a5fb4}
.side{display:inline-block;vertical-align:top;margin-right:2em}
.pager{margin:.4em 0;font-size:.88em;color:#444}.pager button{margin-right:.4em}
th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#aaa}
.note{color:#555;font-size:.9em}
"""


# Sorting and paging of the long tables: a table with class "sortable" sorts by the column whose
# header is clicked (numbers as numbers); one with data-page="N" shows N rows at a time, with a
# filter for the rows not passing. Without script, every row shows.
SCRIPT = """
document.querySelectorAll("table[data-page]").forEach(function(t){
  var size=+t.dataset.page,page=0,only=false,bar=document.createElement("div");bar.className="pager";
  t.parentNode.insertBefore(bar,t);
  function rows(){return Array.prototype.slice.call(t.rows,1)}
  function show(){
    var all=rows(),kept=all.filter(function(r){return !only||r.classList.contains("fail")});
    var last=Math.max(0,Math.ceil(kept.length/size)-1);page=Math.min(page,last);
    all.forEach(function(r){r.style.display="none"});
    kept.slice(page*size,(page+1)*size).forEach(function(r){r.style.display=""});
    bar.innerHTML="rows "+(kept.length?page*size+1:0)+"-"+Math.min((page+1)*size,kept.length)+" of "+
      kept.length+" <button>previous</button><button>next</button><label><input type=checkbox"+
      (only?" checked":"")+"> only those not passing</label>";
    var b=bar.querySelectorAll("button");
    b[0].onclick=function(){page=Math.max(0,page-1);show()};b[1].onclick=function(){page+=1;show()};
    bar.querySelector("input").onchange=function(e){only=e.target.checked;page=0;show()};
  }
  t.show=show;show();
});
document.querySelectorAll("table.sortable").forEach(function(t){
  Array.prototype.forEach.call(t.rows[0].cells,function(th,i){
    th.className+=" sort";th.title="sort by this column";
    th.onclick=function(){
      var up=th.dataset.dir!=="up";th.dataset.dir=up?"up":"down";
      var body=t.tBodies[0],rows=Array.prototype.slice.call(t.rows,1);
      function key(r){var c=r.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;
        var n=parseFloat(v);return isNaN(n)?v:n}
      rows.sort(function(a,b){var x=key(a),y=key(b);
        var d=(typeof x==="number"&&typeof y==="number")?x-y:String(x).localeCompare(String(y));
        return up?d:-d});
      rows.forEach(function(r){body.appendChild(r)});if(t.show)t.show();
    };
  });
});
"""

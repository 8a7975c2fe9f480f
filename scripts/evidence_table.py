import glob, re, os
rows = []
for name in ["weighting-label-flip", "weighting-sign-flip", "ctma-sign-flip", "ctma-alie", "ctma-empire", "optim"]:
    p = f"docs/evidence/{name}.txt"
    if not os.path.exists(p):
        continue
    txt = open(p).read()
    iters = re.findall(r"after (\d+) updates", txt)[0]
    for line in txt.splitlines():
        m = re.match(r"\| (\S+)\s+\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if m:
            rows.append((name, iters, m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5))))
print("| comparison | updates | variant | final accuracy (mean ± std) | min | max |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} ± {r[4]:.3f} | {r[5]:.3f} | {r[6]:.3f} |")

import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("rdp", "/tmp/opacus_pkg/x/opacus/accountants/analysis/rdp.py")
rdp = importlib.util.module_from_spec(spec); spec.loader.exec_module(rdp)
ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
out = []
for q in [0.001, 0.004, 0.01]:
    for sigma in [0.8, 1.1, 1.5]:
        for steps in [100, 1000, 10000]:
            r = rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS)
            eps, best = rdp.get_privacy_spent(orders=ORDERS, rdp=r, delta=1e-5)
            out.append([q, sigma, steps, float(eps), float(best)])
json.dump(out, sys.stdout)

"""Reports: what the business earns.

* ``profitability`` — **margins**: revenue, cost, net and margin per customer, product and vendor
  (from the rollups every event adds to), and the rollup writes themselves;
* ``subjects`` — margins **per subject** (a task or an outcome: an agent run), from their own rollup
  (SQL in ``subject_repository``);
* ``revenue`` — **revenue recognition**: value consumed, marketing cost and breakage per period;
* ``charts`` — an SVG chart of margins over time;
* ``models`` — the typed results; ``repository`` — the rest of their SQL.
"""

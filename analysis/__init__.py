"""Reading stored results and drawing them.

    analysis.table     stored study -> tidy DataFrame; per-cell aggregates (how trials count)
    analysis.stats     Wilson intervals for rates, seeded percentile bootstrap for means / medians
    analysis.plots     heatmap / curve / onset -> (figure, table of the plotted numbers); save
    analysis.samples   generated-against-real snapshots of one trial
    analysis.figures   the named figures: sweep config (full, quick) + plot
    analysis.show      a distribution's samples with its modes or support
"""

"""Reading stored results and drawing them.

    analysis.table     stored study -> tidy DataFrame; per-cell aggregates (how trials count)
    analysis.stats     Wilson intervals for rates, seeded percentile bootstrap for means / medians
    analysis.plots     heatmap / curve / onset -> (figure, table of the plotted numbers); save
    analysis.artifacts a trial's stored folder, weights (model.pt) and final samples (samples.npz)
    analysis.samples   one trial's generated-against-real samples over training and at the end
    analysis.figures   the named figures: sweep config (full, quick) + plot
    analysis.show      a distribution's samples with its modes or support
    analysis.predictor the atlas's predictor: descriptors -> quality and failure per model kind
    analysis.validation its held-out scores (leave one study / family / cell out) against a baseline
    analysis.linear    ridge and ridge logistic fits, R-squared, AUC, Brier score, calibration
"""

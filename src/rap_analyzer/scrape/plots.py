"""Figures of the scrape stage: what was imported and what was rejected."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def scrape_figures(tracks: pd.DataFrame, report: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    by_artist = tracks["artist"].value_counts().head(25).sort_values()
    by_artist.plot.barh(ax=axes[0, 0], title="songs per artist (top 25)")
    years = pd.to_datetime(tracks["release_date"], errors="coerce").dt.year
    decades = (years // 10 * 10).dropna().astype(int).value_counts().sort_index()
    decades.index = [f"{d}s" for d in decades.index]
    decades.plot.bar(ax=axes[0, 1], title=f"songs per decade ({years.isna().sum()} without a valid date)")
    rejected = pd.Series(report.get("rejected", {}), dtype=float)
    if rejected.empty:
        axes[1, 0].text(0.5, 0.5, "no songs rejected", ha="center", va="center")
        axes[1, 0].set_axis_off()
        axes[1, 0].set_title("rejected songs by reason")
    else:
        rejected.sort_values().plot.barh(ax=axes[1, 0], title="rejected songs by reason")
    views = tracks["pageviews"].dropna()
    views = views[views > 0]
    axes[1, 1].hist(np.log10(views.astype(float)), bins=30)
    axes[1, 1].set(title=f"Genius pageviews (n={len(views)})", xlabel="log10(pageviews)", ylabel="songs")
    fig.tight_layout()
    path = out_dir / "scrape_overview.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]

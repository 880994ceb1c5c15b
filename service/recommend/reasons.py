"""Why a paper was picked: the part of its score that contributed most, said with that part's evidence.

- learned: "because you read X" when one liked paper X adds the most to the learned part, and enough of it
  (``RankWeights.because_min`` and ``because_share``); else "popular with readers who share your taste" when
  readers have engaged with the paper; else "close to the papers you have liked";
- stated: the stated topic the paper matches in the text space (or the include keyword it mentions);
- include: the include keyword it mentions;
- trending: the trending signal with its figure ("trending: 42 upvotes");
- exploration picks say so (``EXPLORE_REASON``); followed authors are named by the pick loop.
"""

from __future__ import annotations

import numpy as np

from service.recommend.inputs import Batch, Candidates, RankWeights, Reader

EXPLORE_REASON = "a wildcard: partly chance, to show you something outside your usual picks"
CROWD_REASON = "popular with readers who share your taste"
LEARNED_REASON = "close to the papers you have liked"
RANKED_PARTS = ("learned", "stated", "include", "trending")


class Reasons:
    """The reasons of one batch's picks, read from ``batch.parts`` (filled by ``ranking.score_batch``)."""

    def __init__(self, batch: Batch, cands: Candidates, weights: RankWeights) -> None:
        self.batch, self.cands, self.weights = batch, cands, weights
        self.parts = np.stack([batch.parts[name] for name in RANKED_PARTS], axis=-1) if batch.parts else None

    def of(self, row: int, js: list[int]) -> list[str]:
        """The reasons of reader ``row``'s picks ``js`` (candidate indices)."""
        return [self.one(row, j) for j in js]

    def one(self, row: int, j: int) -> str:
        reader = self.batch.readers[row]
        if self.parts is not None:
            values = self.parts[row, j]
            for k in np.argsort(-values, kind="stable").tolist():
                if values[k] <= 0:
                    break
                why = getattr(self, f"_{RANKED_PARTS[k]}")(reader, row, j, float(values[k]))
                if why:
                    return why
        return self.cands.trend_reasons[j]

    def _learned(self, reader: Reader, row: int, j: int, value: float) -> str:
        because = reader.because
        if because is not None and len(reader.liked_titles) and self.batch.learned_scale is not None:
            share = (because[:, j] - because.mean(axis=1)) * self.batch.learned_scale[row]
            k = int(share.argmax())
            if share[k] >= self.weights.because_min and share[k] >= self.weights.because_share * value:
                return f"because you read “{reader.liked_titles[k]}”"
        if self.cands.engaged[j] > 0:
            return CROWD_REASON
        return LEARNED_REASON

    def _stated(self, reader: Reader, row: int, j: int, value: float) -> str | None:
        best = max(
            ((float(m[j]), t) for t, m in zip(reader.prefs.topics, reader.topic_match, strict=True)),
            default=(0.0, ""),
        )
        if best[0] >= self.weights.topic_match:
            return f"matches your topic “{best[1]}”"
        return self._include(reader, row, j, value)

    def _include(self, reader: Reader, row: int, j: int, value: float) -> str | None:
        for keyword, hits in zip(reader.prefs.include, reader.keyword_hits, strict=True):
            if hits[j]:
                return f"matches your keyword “{keyword}”"
        return None

    def _trending(self, reader: Reader, row: int, j: int, value: float) -> str:
        return self.cands.trend_reasons[j]

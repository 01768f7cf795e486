"""Scores of a translated corpus with sacreBLEU (Post 2018: the standard BLEU and chrF, with
a signature that says how they were computed; no hand-written BLEU here)."""

from __future__ import annotations


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """{"bleu", "chrf", "bleu_signature", "chrf_signature"} of detokenised ``hypotheses``
    against one reference each (sacreBLEU's default 13a tokenisation, cased)."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ImportError("scoring translations needs sacrebleu; pip install "
                          "'grukit[translate]' (or pip install sacrebleu).") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} translations and {len(references)} references; "
                         f"give one reference a sentence.")
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": round(b.score, 2), "chrf": round(c.score, 2),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}

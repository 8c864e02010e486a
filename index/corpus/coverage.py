"""``dgbot corpus check``: format problems, cross-article problems, sourcing problems and what
the corpus covers.

A paragraph without its source marker, or a source no paragraph cites, still loads (the bot
then shows all the article's sources for it), but it is reported: the link a citizen is shown
should be the page that backs the passage."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from index.corpus.articles import Article, Problem, load_corpus

_FACT_ID = re.compile(r"^- \[([A-Z0-9]+-[0-9]+)\]", re.MULTILINE)


@dataclass
class CheckReport:
    articles: list[Article]
    problems: list[Problem]
    dossier_facts: list[str] = field(default_factory=list)

    @property
    def per_year(self) -> dict[int, int]:
        return dict(sorted(Counter(a.date.year for a in self.articles).items()))

    @property
    def facts(self) -> set[str]:
        return {f for a in self.articles for f in a.facts}

    @property
    def missing_facts(self) -> list[str]:
        return [f for f in self.dossier_facts if f not in self.facts]

    def lines(self) -> list[str]:
        out = [str(p) for p in self.problems]
        if self.articles:
            dates = sorted(a.date for a in self.articles)
            out.append(f"{len(self.articles)} articles, {dates[0]} … {dates[-1]}")
            out.append("per year: " + ", ".join(f"{y}: {n}" for y, n in self.per_year.items()))
            facts = f"facts cited: {len(self.facts)}"
            if self.dossier_facts:
                covered = len(self.dossier_facts) - len(self.missing_facts)
                share = 100 * covered / len(self.dossier_facts)
                facts += f" of {len(self.dossier_facts)} in the dossier ({share:.0f} % covered)"
                if self.missing_facts:
                    facts += f"; not covered: {', '.join(self.missing_facts)}"
            out.append(facts)
        out.append(f"{len(self.problems)} problem(s)")
        return out


def cross_problems(articles: list[Article]) -> list[Problem]:
    """What no single file shows: two articles with the same title and date."""
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for article in articles:
        key = (article.title.strip(), article.date.isoformat())
        if key in seen:
            problems.append(
                Problem(article.path, f"same title and date as {seen[key]} (a duplicate article?)")
            )
        else:
            seen[key] = article.path
    return problems


def citation_problems(article: Article) -> list[Problem]:
    """Paragraphs without a source marker and sources no paragraph cites, with file and line."""
    problems = [
        Problem(f"{article.path}:{cite.line}", "paragraph without a source marker ([n] at its end)")
        for cite in article.cites
        if not cite.sources
    ]
    cited = {i for cite in article.cites for i in cite.sources}
    problems += [
        Problem(article.path, f"source {n} is never cited: {url}")
        for n, url in enumerate(article.sources, start=1)
        if n - 1 not in cited and any(c.sources for c in article.cites)
    ]
    return problems


def dossier_fact_ids(path: Path | None) -> list[str]:
    """Fact ids (``[2563-01]``) of the DG Awards dossier, when it is at hand."""
    if path is None or not path.is_file():
        return []
    return list(dict.fromkeys(_FACT_ID.findall(path.read_text(encoding="utf-8"))))


def check(folder: Path, dossier: Path | None = None) -> CheckReport:
    loaded = load_corpus(folder)
    problems = loaded.problems + cross_problems(loaded.articles)
    problems += [p for article in loaded.articles for p in citation_problems(article)]
    return CheckReport(loaded.articles, problems, dossier_fact_ids(dossier))

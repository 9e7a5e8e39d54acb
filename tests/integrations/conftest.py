"""What the LangChain and LlamaIndex tests share: a few facts ingested once into a store (per test session)."""
from __future__ import annotations

import pytest

from rag import Pipeline, Settings
from rag.types import Document

FACTS = ["The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
         "Quokkas are small marsupials that live on Rottnest Island. They eat leaves and grasses.",
         "Sourdough bread rises with wild yeast. It needs a starter fed with flour and water.",
         "The Nile flows north through eleven countries. It is the longest river in Africa.",
         "Reciprocal rank fusion adds 1/(k + rank) over lists; k is usually 60."]
QUESTION = "What do quokkas eat?"


@pytest.fixture(scope="package")
def pipeline(tmp_path_factory: pytest.TempPathFactory, embedder) -> Pipeline:  # noqa: ANN001
    p = Pipeline(Settings(store_path=tmp_path_factory.mktemp("frameworks") / "store"), embedder=embedder)
    p.ingest_documents([Document(id=f"f{i}", source=f"facts/{i}.txt", title="", text=t) for i, t in enumerate(FACTS)])
    return p

"""The cross-encoder reranking path, with the only cross-encoder that can be built offline.

No trained Chinese cross-encoder ships in a PyPI package, so this builds an untrained (seeded) one:
a two-layer BERT with the converted e5 model's tokenizer. It proves the path (loading a CrossEncoder
folder, scoring every candidate, reordering, cutting to k), not reranking quality; e5's own twelve
layers under an equally untrained head proved no more and cost ~25 s of the quick suite.
"""
import pytest
import torch
from conftest import make_settings

from qa.errors import InvalidArgument, ModelNotFound
from qa.service import Service


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory, model_dir):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, pad_token_id=tokenizer.pad_token_id, num_labels=1)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # a visible spread of scores instead of an untrained head's ~0 logits
        model.classifier.weight.mul_(200.0)
    dest = tmp_path_factory.mktemp("ce") / "cross-encoder"
    model.save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    return dest


def test_reranked_search_orders_candidates_by_cross_encoder_score(corpus_service, cross_encoder_dir, model_dir):
    settings = make_settings(corpus_service.settings.index_dir, model_dir, rerank_model=str(cross_encoder_dir),
                             rerank_candidates=12)
    svc = Service(settings, embedder=corpus_service.embedder)
    hits = svc.search("2025年市场主体目标是多少", k=5)
    fused = svc.search("2025年市场主体目标是多少", k=12, rerank=False)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    scores = [h.rerank_score for h in hits]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    assert {h.chunk.chunk_id for h in hits} <= {h.chunk.chunk_id for h in fused}
    answer = svc.ask("2025年市场主体目标是多少")  # the answer path runs through the reranker too
    assert answer.citations


def test_rerank_without_a_model_is_a_clear_error(corpus_service):
    with pytest.raises(InvalidArgument, match="QA_RERANK_MODEL"):
        corpus_service.search("市场主体", rerank=True)


def test_missing_rerank_model_folder_is_a_clear_error(corpus_service, tmp_path, model_dir):
    svc = Service(make_settings(corpus_service.settings.index_dir, model_dir, rerank_model=str(tmp_path / "none")),
                  embedder=corpus_service.embedder)
    with pytest.raises(ModelNotFound):
        svc.search("市场主体")

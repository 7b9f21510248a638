// The C ABI: training the embedder (foldback/train.h) and the learned
// reranker (foldback/rerank.h). Core calls only; the host part is reading
// the index folder's feedback log.
#include "c_api.h"
#include "foldback/questions.h"
#include "foldback/rerank.h"
#include "foldback/train.h"

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

struct fb_trainer {
  ErrorSlot err;
  std::shared_ptr<IndexState> state;  // the index the trainer read
  std::unique_ptr<foldback::EmbedderTrainer> trainer;
};

struct fb_reranker {
  std::unique_ptr<foldback::LearnedReranker> model;
};

namespace {

// The live records of the index folder's feedback log (what lawyers
// labelled); FB_ESTATE, said in the index's error, when it has no folder.
int LiveRecords(const fb_index* h, std::vector<foldback::FeedbackRecord>* out) {
  std::string dir = h->state->Dir();
  if (dir.empty()) {
    return Fail(&h->err, FB_ESTATE,
                "the index has no folder, so no feedback log (open it with fb_index_open or "
                "save it with fb_index_save first)");
  }
  auto contents = foldback::host::ReadFeedbackLogFile(dir);
  if (!contents.ok()) return Report(&h->err, contents.status());
  *out = foldback::ApplyFeedbackLog(*contents).records;
  return FB_OK;
}

}  // namespace

fb_train_params fb_train_default_params(void) {
  foldback::EmbedderTrainOptions o;
  fb_train_params p;
  p.epochs = o.epochs;
  p.batch_size = o.batch_size;
  p.max_pairs = o.max_pairs;
  p.temperature = o.temperature;
  p.learning_rate = o.learning_rate;
  p.hard_negatives = o.hard_negatives ? 1 : 0;
  p.warm_start = o.warm_start ? 1 : 0;
  p.seed = o.seed;
  p.sources = nullptr;
  p.pairs_jsonl = nullptr;
  p.interpolation = o.interpolation;
  p.soup = o.soup;
  p.source_weights = nullptr;
  p.shareable_matters = nullptr;
  p.shareable_matter_count = 0;
  return p;
}

int fb_train_start(const fb_index* h, const fb_train_params* params, fb_trainer** trainer_out) {
  if (!h) return FB_EINVALID;
  if (!trainer_out) return Fail(&h->err, FB_EINVALID, "trainer_out is NULL");
  *trainer_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    fb_train_params p = params ? *params : fb_train_default_params();
    foldback::EmbedderTrainOptions o;
    bool feedback = false, named = false;
    if (p.sources && *p.sources) {
      auto s = foldback::ParsePairSources(p.sources);
      if (!s.ok()) return Report(&h->err, s.status());
      o.sources = *s;
      named = foldback::NamesPairSource(p.sources, foldback::PairSource::kFeedback);
      // Within "all", only where there is a log to read.
      feedback = named || (s->Has(foldback::PairSource::kFeedback) && !h->state->Dir().empty());
    }
    o.epochs = p.epochs;
    if (feedback) {
      std::vector<std::string> shareable;
      std::string why;
      if (!Strings(p.shareable_matters, p.shareable_matter_count, "shareable_matters", &shareable,
                   &why)) {
        return Fail(&h->err, FB_EINVALID, why);
      }
      std::vector<foldback::FeedbackRecord> records;
      if (int rc = LiveRecords(h, &records); rc != FB_OK) return rc;
      foldback::Status used = foldback::UseFeedbackPairs(
          *h->state->index, records, std::set<std::string>(shareable.begin(), shareable.end()), &o);
      // Named, no pairs is an error; within "all", quietly none.
      if (!used.ok() && named) {
        return Report(&h->err, used);
      }
      if (!used.ok()) o.sources.enabled[static_cast<int>(foldback::PairSource::kFeedback)] = false;
    } else {
      // NULL or "", or a list without it: feedback (the folder's log) stays out.
      o.sources.enabled[static_cast<int>(foldback::PairSource::kFeedback)] = false;
    }
    if (p.epochs == 0) o.epochs = foldback::DefaultEpochs(o.sources);
    o.batch_size = p.batch_size;
    o.max_pairs = p.max_pairs;
    o.temperature = p.temperature;
    o.learning_rate = p.learning_rate;
    o.hard_negatives = p.hard_negatives != 0;
    o.warm_start = p.warm_start != 0;
    o.seed = p.seed;
    o.interpolation = p.interpolation;
    o.soup = p.soup;
    if (p.source_weights && *p.source_weights) {
      auto w = foldback::ParseSourceWeights(p.source_weights);
      if (!w.ok()) return Report(&h->err, w.status());
      o.source_weights = *w;
    }
    if (p.pairs_jsonl && *p.pairs_jsonl) {
      auto pairs = foldback::ParseQuestionPairs(p.pairs_jsonl);
      if (!pairs.ok()) return Report(&h->err, pairs.status());
      foldback::Status used = foldback::UseQuestionPairs(*h->state->index, *pairs, &o);
      if (!used.ok()) return Report(&h->err, used);
    }
    auto t = foldback::EmbedderTrainer::Start(*h->state->index, o);
    if (!t.ok()) return Report(&h->err, t.status());
    auto out = std::make_unique<fb_trainer>();
    out->state = h->state;
    out->trainer = std::move(t.value());
    *trainer_out = out.release();
    return FB_OK;
  });
}

int fb_train_step(fb_trainer* t, fb_train_progress* progress_out) {
  if (!t) return FB_EINVALID;
  return Guard(&t->err, [&]() -> int {
    auto r = t->trainer->Step();
    if (!r.ok()) return Report(&t->err, r.status());
    if (progress_out) {
      progress_out->epoch = r->epoch;
      progress_out->epochs = r->epochs;
      progress_out->step = r->step;
      progress_out->steps = r->steps;
      progress_out->loss = r->loss;
      progress_out->epoch_loss = r->epoch_loss;
    }
    return FB_OK;
  });
}

int fb_train_done(const fb_trainer* t) { return t && t->trainer->done() ? 1 : 0; }

size_t fb_train_pair_count(const fb_trainer* t, size_t per_source_out[7]) {
  if (!t) return 0;
  if (per_source_out) {
    std::vector<size_t> n = t->trainer->PairsPerSource();
    for (size_t i = 0; i < 7; ++i) per_source_out[i] = i < n.size() ? n[i] : 0;
  }
  return t->trainer->pairs().size();
}

double fb_train_mean_loss(const fb_trainer* t) { return t ? t->trainer->MeanLoss() : 0.0; }

int fb_train_install(fb_trainer* t, fb_index* h) {
  if (!t) return FB_EINVALID;
  if (!h) return Fail(&t->err, FB_EINVALID, "index is NULL");
  if (h->state != t->state) {
    return Fail(&t->err, FB_EINVALID, "the trainer was started on another index");
  }
  return Guard(&t->err, [&]() -> int {
    if (int c = BeginChange(h)) return Fail(&t->err, c, LastError(&h->err));
    return Report(&t->err, t->trainer->Install(h->state->index.get()));
  });
}

const char* fb_trainer_last_error(const fb_trainer* t) { return t ? LastError(&t->err) : ""; }

void fb_trainer_free(fb_trainer* t) { delete t; }

int fb_index_restore_previous_embedder(fb_index* h) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, foldback::RestorePreviousEmbedder(h->state->index.get()));
  });
}

int fb_index_forget_matter(fb_index* h, const char* matter, char** action_out) {
  if (!h) return FB_EINVALID;
  if (action_out) *action_out = nullptr;
  if (!matter || !*matter) return Fail(&h->err, FB_EINVALID, "no matter to forget");
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    std::string action;
    Status s = foldback::ForgetMatterInEmbedder(h->state->index.get(), matter, &action);
    if (!s.ok()) return Report(&h->err, s);
    if (action_out && !(*action_out = Dup(action))) return FB_ENOMEM;
    return FB_OK;
  });
}

uint32_t fb_index_embedder_version(const fb_index* h) {
  if (!h) return 0;
  foldback::EmbedderInfo info = foldback::DescribeEmbedder(*h->state->index);
  return info.present ? info.version : 0;
}

// ---------------------------------------------------------------- reranker

fb_reranker_params fb_reranker_default_params(void) {
  foldback::LearnedRerankerOptions o;
  fb_reranker_params p;
  p.l2 = o.l2;
  p.memory = o.memory ? 1 : 0;
  p.label_prior = o.label_prior ? 1 : 0;
  p.min_labels = o.min_labels;
  p.min_relevant = o.min_relevant;
  p.min_questions = o.min_questions;
  p.restrict_matters = 0;
  p.allowed_matters = nullptr;
  p.allowed_matter_count = 0;
  return p;
}

int fb_reranker_train(const fb_index* h, const fb_reranker_params* params,
                      fb_reranker** reranker_out) {
  return fb_reranker_train_for_search(h, params, nullptr, 0, reranker_out);
}

int fb_reranker_train_for_search(const fb_index* h, const fb_reranker_params* params,
                                 const fb_search_params* search, size_t depth,
                                 fb_reranker** reranker_out) {
  if (!h) return FB_EINVALID;
  if (!reranker_out) return Fail(&h->err, FB_EINVALID, "reranker_out is NULL");
  *reranker_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    fb_reranker_params p = params ? *params : fb_reranker_default_params();
    foldback::LearnedRerankerOptions o;
    o.l2 = p.l2;
    o.memory = p.memory != 0;
    o.label_prior = p.label_prior != 0;
    o.min_labels = p.min_labels;
    o.min_relevant = p.min_relevant;
    o.min_questions = p.min_questions;
    if (p.restrict_matters) {
      std::vector<std::string> list;
      std::string why;
      if (!Strings(p.allowed_matters, p.allowed_matter_count, "allowed_matters", &list, &why)) {
        return Fail(&h->err, FB_EINVALID, why);
      }
      o.allowed_matters.emplace(list.begin(), list.end());
    }
    // The search it will serve: the lists it trains within are that
    // search's, behind its walls (TrainSearchReranker).
    fb_search_params sp = search ? *search : fb_search_default_params();
    foldback::SearchRerankTraining training;
    Status valid =
        SearchOptionsOf(IntOf(sp.mode), nullptr, 0, sp.restrict_matters, sp.allowed_matters,
                        sp.allowed_matter_count, IntOf(sp.syntax), &training.search);
    if (!valid.ok()) return Report(&h->err, valid);
    training.fold_back = sp.use_feedback != 0;
    if (depth) training.depth = depth;
    training.reranker = o;
    std::vector<foldback::FeedbackRecord> records;
    if (int rc = LiveRecords(h, &records); rc != FB_OK) return rc;
    auto trained = foldback::TrainSearchReranker(*h->state->index, records,
                                                 training.search.allowed_matters, training);
    if (!trained.ok()) return Report(&h->err, trained.status());
    auto out = std::make_unique<fb_reranker>();
    out->model = std::move(trained.value());
    *reranker_out = out.release();
    return FB_OK;
  });
}

int fb_reranker_serialize(const fb_reranker* r, char** bytes_out, size_t* size_out) {
  if (!r || !bytes_out) return FB_EINVALID;
  *bytes_out = nullptr;
  ErrorSlot err;
  return Guard(&err, [&]() -> int {
    auto s = r->model->Serialize();
    if (!s.ok()) return CodeOf(s.status());
    *bytes_out = Dup(*s);
    if (!*bytes_out) return FB_ENOMEM;
    if (size_out) *size_out = s->size();
    return FB_OK;
  });
}

int fb_reranker_load(const void* bytes, size_t size, fb_reranker** reranker_out, char** error_out) {
  if (error_out) *error_out = nullptr;
  if (!reranker_out) return FB_EINVALID;
  *reranker_out = nullptr;
  ErrorSlot err;
  int code = Guard(&err, [&]() -> int {
    if (!bytes && size) return Fail(&err, FB_EINVALID, "bytes is NULL");
    auto m = foldback::LearnedReranker::Deserialize(
        std::string_view(static_cast<const char*>(bytes), bytes ? size : 0));
    if (!m.ok()) return Report(&err, m.status());
    auto out = std::make_unique<fb_reranker>();
    out->model = std::move(m.value());
    *reranker_out = out.release();
    return FB_OK;
  });
  if (code != FB_OK && error_out) *error_out = Dup(err.message);
  return code;
}

int fb_reranker_models_json(const fb_reranker* r, char** json_out) {
  if (!r || !json_out) return FB_EINVALID;
  *json_out = nullptr;
  ErrorSlot err;
  return Guard(&err, [&]() -> int {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& m : r->model->Models()) {
      a.push_back({{"scope", m.scope_key},
                   {"version", m.version},
                   {"gate_open", m.gate_open},
                   {"note", m.note},
                   {"records", m.records},
                   {"relevant", m.relevant},
                   {"not_relevant", m.not_relevant},
                   {"questions", m.questions},
                   {"validation_gain", m.validation_gain}});
    }
    *json_out = Dup(a.dump());
    return *json_out ? FB_OK : FB_ENOMEM;
  });
}

void fb_reranker_free(fb_reranker* r) { delete r; }

int fb_index_search_rerank(const fb_index* h, const fb_reranker* reranker, const char* query,
                           const fb_search_params* params, size_t depth, fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!query || !results_out) return Fail(&h->err, FB_EINVALID, "query or results_out is NULL");
  *results_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    foldback::SearchOptions o;
    fb_search_params p = params ? *params : fb_search_default_params();
    Status s = SearchOptionsOf(IntOf(p.mode), p.filters, p.filter_count, p.restrict_matters,
                               p.allowed_matters, p.allowed_matter_count, IntOf(p.syntax), &o);
    if (!s.ok()) return Report(&h->err, s);
    o.top_k = p.top_k;
    std::shared_ptr<const foldback::FoldBack> fb;
    if (p.use_feedback) {
      auto f = FoldBackFor(*h->state, o.allowed_matters);
      if (!f.ok()) return Report(&h->err, f.status());
      fb = *f;
    }
    foldback::RerankOptions ro;
    if (depth) ro.depth = depth;
    auto r = foldback::SearchAndRerank(*h->state->index, fb.get(), query, o,
                                       reranker ? reranker->model.get() : nullptr, ro);
    if (!r.ok()) return Report(&h->err, r.status());
    auto results = std::make_unique<fb_results>();
    results->hits = std::move(r.value());
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(),
                               hit.score});
    }
    *results_out = results.release();
    return FB_OK;
  });
}

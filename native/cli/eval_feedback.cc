#include "cli/eval_feedback.h"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include "cli/common.h"
#include "foldback/feedback.h"
#include "foldback/rerank.h"
#include "foldback/train.h"
#include "host/files.h"

namespace foldback::cli {
namespace {

using SearchFn =
    std::function<Result<std::vector<SearchHit>>(const std::string&, const SearchOptions&)>;

SearchOptions Scoped(const FeedbackEvalContext& ctx, const EvalQuery& q, size_t top_k) {
  SearchOptions o = ctx.search;
  o.top_k = top_k;
  if (!ctx.scope_field.empty()) {
    auto f = q.fields.find(ctx.scope_field);
    if (f != q.fields.end()) o.filters.push_back({ctx.scope_field, Filter::Op::kEq, f->second});
  }
  return o;
}

// The same protocol as `foldback eval`: rank documents by their best chunk.
Result<Metrics> Evaluate(const FeedbackEvalContext& ctx, const SearchFn& search) {
  MetricsAccumulator acc;
  size_t run = 0;
  size_t depth = std::max<size_t>(ctx.top_k, 100);
  for (const EvalQuery& q : *ctx.queries) {
    if (ctx.limit && run >= ctx.limit) break;
    auto rel = ctx.qrels->find(q.id);
    if (rel == ctx.qrels->end()) continue;
    auto hits = search(q.text, Scoped(ctx, q, std::min<size_t>(10000, depth * 10)));
    if (!hits.ok()) return hits.status().WithContext("query '" + q.id + "'");
    std::vector<std::string> ranked;
    std::unordered_set<std::string> seen;
    for (const auto& h : *hits) {
      if (seen.insert(h.doc_id).second) ranked.push_back(h.doc_id);
      if (ranked.size() >= depth) break;
    }
    acc.Add(ScoreQuery(ranked, rel->second));
    ++run;
  }
  return acc.Mean();
}

nlohmann::json MetricsJson(const Metrics& m) {
  return {{"ndcg@10", m.ndcg10},       {"recall@5", m.recall5}, {"recall@10", m.recall10},
          {"recall@100", m.recall100}, {"mrr@10", m.mrr10},     {"queries", m.queries}};
}

double Gain(double after, double before) { return before > 0 ? (after - before) / before : 0; }

// A deterministic draw in [0, 1) per (query, passage): which passages an
// imperfect simulated lawyer labels.
double Draw(uint64_t seed, const std::string& a, const std::string& b) {
  uint64_t h = 14695981039346656037ull ^ seed;
  for (const std::string* s : {&a, &b}) {
    for (char c : *s) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) / 9007199254740992.0;
}

}  // namespace

void AddFeedbackEvalOptions(CLI::App* cmd, FeedbackEvalArgs* a) {
  cmd->add_option("--feedback-queries", a->train_queries,
                  "Simulate lawyers' feedback on these queries (labels from --qrels), then "
                  "evaluate --queries without and with it");
  cmd->add_option("--feedback-methods", a->methods,
                  "Fold-back methods measured, comma-separated: demos, rocchio, adapter, rerank "
                  "(the learned reranker), finetune (the embedder trained on the labels: "
                  "measured alone, and under the other methods in \"all\")")
      ->capture_default_str();
  cmd->add_option("--finetune-epochs", a->finetune_epochs,
                  "Method finetune: passes over the labels' pairs")
      ->capture_default_str();
  cmd->add_option("--finetune-interpolation", a->finetune_interpolation,
                  "Method finetune: mix of the fine-tuned model with the index's, in [0, 1]")
      ->capture_default_str();
  cmd->add_option("--finetune-sources", a->finetune_sources,
                  "Method finetune: the pair sources, as `train --sources` (the labels are "
                  "the feedback source; e.g. all: with the corpus' structure, in one training)")
      ->capture_default_str();
  cmd->add_option("--feedback-depth", a->depth, "Results each simulated lawyer sees and labels")
      ->capture_default_str();
  cmd->add_option("--feedback-label-rate", a->label_rate,
                  "Share of the shown passages the simulated lawyer labels (an imperfect lawyer: "
                  "the others stay unlabelled, never negatives)")
      ->capture_default_str();
  cmd->add_option("--rerank", a->rerank,
                  "Second stage: none, or learned (a reranker trained from the simulated "
                  "lawyers' labels: adds the method rerank; needs --feedback-queries)")
      ->capture_default_str();
  cmd->add_option("--rerank-depth", a->rerank_depth, "Candidates the reranker reorders")
      ->capture_default_str();
  cmd->add_option("--rerank-memory", a->rerank_memory,
                  "Learned reranker: use similar past questions' labelled passages (1/0)")
      ->capture_default_str();
  cmd->add_option("--rerank-l2", a->rerank_l2, "Learned reranker: L2 weight")
      ->capture_default_str();
  cmd->add_option("--rerank-min-similarity", a->rerank_min_similarity,
                  "Learned reranker: question similarity of a memory neighbour")
      ->capture_default_str();
  cmd->add_option("--rerank-prior", a->rerank_prior,
                  "Learned reranker: label prior from other questions' labelled passages (1/0)")
      ->capture_default_str();
  cmd->add_option("--rerank-same-similarity", a->rerank_same_similarity,
                  "Learned reranker: question similarity from which a past question counts as "
                  "the same question (its own memory features); above 1: one group")
      ->capture_default_str();
  cmd->add_option("--rerank-first-stage-prior", a->rerank_first_stage_prior,
                  "Learned reranker: fixed weight on the first stage's rank the model is fitted "
                  "on top of (per standard deviation; 0: none)")
      ->capture_default_str();
  cmd->add_option("--feedback-min-similarity", a->min_similarity,
                  "Rocchio: question similarity from which a past question's labels shift the "
                  "query (FoldBackOptions::min_similarity)")
      ->capture_default_str();
  cmd->add_option("--feedback-seed", a->label_seed,
                  "Seed of which passages get labelled with --feedback-label-rate < 1")
      ->capture_default_str();
}

Status CheckEvalRerank(const FeedbackEvalArgs& args) {
  RerankerKind kind;
  if (!ParseRerankerKind(args.rerank, &kind)) {
    return Status::InvalidArgument("--rerank must be none, learned or llm, not \"" + args.rerank +
                                   "\"");
  }
  if (kind == RerankerKind::kLlm && !args.train_queries.empty()) {
    return Status::InvalidArgument(
        "--rerank llm is measured without --feedback-queries (it learns nothing from labels)");
  }
  if (kind == RerankerKind::kLearned && args.train_queries.empty()) {
    return Status::InvalidArgument(
        "--rerank learned needs labels to learn from: give --feedback-queries (simulated "
        "lawyers label their results from --qrels)");
  }
  if (args.rerank_depth == 0 || args.rerank_depth > 10000) {
    return Status::InvalidArgument("--rerank-depth must be in 1..10000");
  }
  return Status::OK();
}

int RunFeedbackEval(const FeedbackEvalArgs& args, const FeedbackEvalContext& ctx) {
  Status rerank_ok = CheckEvalRerank(args);
  if (!rerank_ok.ok()) return Fail(rerank_ok);
  std::set<std::string> methods = SplitCommaSet(args.methods);
  if (args.rerank == "learned") methods.insert("rerank");
  for (const auto& m : methods) {
    if (m != "demos" && m != "rocchio" && m != "adapter" && m != "rerank" && m != "finetune") {
      return Fail(Status::InvalidArgument("--feedback-methods: unknown method '" + m +
                                          "' (demos, rocchio, adapter, rerank, finetune)"));
    }
  }
  if (methods.empty()) return Fail(Status::InvalidArgument("--feedback-methods is empty"));
  if (args.depth == 0) return Fail(Status::InvalidArgument("--feedback-depth must be positive"));
  if (!(args.label_rate > 0 && args.label_rate <= 1)) {
    return Fail(Status::InvalidArgument("--feedback-label-rate must be in (0, 1]"));
  }
  auto data = host::ReadFile(args.train_queries);
  if (!data.ok()) return Fail(data.status());
  auto train = ParseBeirQueries(*data);
  if (!train.ok()) return Fail(train.status().WithContext(args.train_queries));
  const Index& index = *ctx.index;

  // 1. Simulated lawyers: search, look at the top `depth`, label them.
  auto t0 = std::chrono::steady_clock::now();
  MemorySink sink;
  FeedbackLogWriter writer(&sink);
  size_t written = 0, relevant = 0, not_relevant = 0, skipped = 0;
  size_t unlabelled = 0, unlabelled_relevant = 0;
  for (const EvalQuery& q : *train) {
    auto rel = ctx.qrels->find(q.id);
    if (rel == ctx.qrels->end()) {
      ++skipped;  // unjudged: nothing to label from
      continue;
    }
    if (!ctx.scope_field.empty() && !q.fields.count(ctx.scope_field)) {
      return Fail(Status::InvalidArgument(
          fmt::format(FMT_STRING("{}: line {}: query '{}' has no field '{}'"), args.train_queries,
                      q.line, q.id, ctx.scope_field)));
    }
    auto hits = index.Search(q.text, Scoped(ctx, q, args.depth));
    if (!hits.ok()) return Fail(hits.status().WithContext("feedback query '" + q.id + "'"));
    FeedbackRecord r;
    r.record_id = fmt::format(FMT_STRING("sim-{:08}"), written);
    r.trace_id = "sim-trace-" + q.id;
    r.question = q.text;
    r.hop_queries = {q.text};
    r.filters = Scoped(ctx, q, 0).filters;  // the scope, as a host's trace keeps it
    r.consent_to_train = true;
    bool any = false;
    uint32_t rank = 0;
    for (const SearchHit& h : *hits) {
      ShownResult s;
      s.chunk_id = h.chunk_id;
      s.doc_id = h.doc_id;
      s.rank = ++rank;
      s.score = h.score;
      s.text_hash = FeedbackTextHash(h.text);
      s.matter = h.matter;
      r.results.push_back(s);
      auto g = rel->second.find(h.doc_id);
      bool is_rel = g != rel->second.end() && g->second > 0;
      if (args.label_rate < 1 && Draw(args.label_seed, q.id, h.chunk_id) >= args.label_rate) {
        ++unlabelled;  // shown, not labelled: says nothing either way
        unlabelled_relevant += is_rel;
        continue;
      }
      r.labels.push_back(
          {h.chunk_id, is_rel ? PassageLabel::kRelevant : PassageLabel::kNotRelevant});
      (is_rel ? relevant : not_relevant)++;
      any |= is_rel;
    }
    r.rating = any ? Rating::Up() : Rating::Down();
    Status s = writer.Add(r);
    if (!s.ok()) return Fail(s.WithContext("feedback record for '" + q.id + "'"));
    ++written;
  }
  Status synced = writer.Sync();
  if (!synced.ok()) return Fail(synced);
  // 2. The real read path.
  FeedbackLogContents contents = ReadFeedbackLog(sink.data());
  FeedbackState state = ApplyFeedbackLog(contents);
  if (state.records.size() != written || !contents.damage.empty()) {
    return Fail(Status::Internal("the feedback log did not read back what was written"));
  }
  double simulate_s = SecondsSince(t0);

  // 3. Baseline and each method.
  auto baseline = Evaluate(
      ctx, [&](const std::string& q, const SearchOptions& o) { return index.Search(q, o); });
  if (!baseline.ok()) return Fail(baseline.status());
  struct Run {
    std::string name;
    FoldBackOptions options;
    Metrics metrics;
    FoldBackStats stats;
    double build_s = 0, eval_s = 0;
  };
  std::vector<Run> runs;
  auto config = [&](const std::set<std::string>& on) {
    FoldBackOptions o;
    o.demos = on.count("demos") > 0;
    o.rocchio = on.count("rocchio") > 0;
    o.adapter = on.count("adapter") > 0;
    // An imperfect lawyer leaves shown passages unlabelled: they are not
    // negatives then.
    if (args.label_rate < 1) o.adapter_unlabelled_negatives = false;
    o.min_similarity = args.min_similarity;
    return o;
  };
  for (const std::string m : {"rocchio", "adapter", "rerank"}) {
    if (methods.count(m)) runs.push_back({m, config({m}), {}, {}, 0, 0});
  }
  // With the reranker and another method: fold-back without the reranker
  // too, to tell what the reranker adds.
  if (methods.count("rerank") && (methods.count("rocchio") || methods.count("adapter"))) {
    runs.push_back({"all_without_rerank", config(methods), {}, {}, 0, 0});
  }
  runs.push_back({"all", config(methods), {}, {}, 0, 0});
  // The embedder fine-tuned on the labels (the `feedback` source of
  // `foldback train`: FeedbackTrainingPairs, continuing from the index's
  // model), on a copy of the index, measured with the plain search.
  // With other methods too, "all" (and its reranker) runs on this copy:
  // fold-back and the reranker over the fine-tuned embedder.
  nlohmann::json finetune_json;
  Metrics finetune_metrics;
  std::unique_ptr<Index> tuned_index;
  double finetune_s = 0;
  if (methods.count("finetune")) {
    auto tf = std::chrono::steady_clock::now();
    auto bytes = index.Snapshot();
    if (!bytes.ok()) return Fail(bytes.status());
    auto tuned = Index::FromSnapshot(*bytes);
    if (!tuned.ok()) return Fail(tuned.status());
    ExportReport er;
    EmbedderTrainOptions to;
    auto sources = ParsePairSources(args.finetune_sources);
    if (!sources.ok()) return Fail(sources.status().WithContext("--finetune-sources"));
    if (!sources->Has(PairSource::kFeedback)) {
      return Fail(Status::InvalidArgument("--finetune-sources must include feedback"));
    }
    to.sources = *sources;
    // The simulated lawyers' records touch no matter: firm-wide.
    Status used = UseFeedbackPairs(**tuned, state.records, {}, &to, &er);
    if (!used.ok()) return Fail(used.WithContext("finetune"));
    to.warm_start = true;
    to.epochs = args.finetune_epochs;
    to.interpolation = args.finetune_interpolation;
    to.seed = args.label_seed;
    auto trainer = EmbedderTrainer::Start(**tuned, to);
    if (!trainer.ok()) return Fail(trainer.status().WithContext("finetune"));
    const double loss_before = (*trainer)->MeanLoss();
    while (!(*trainer)->done()) {
      auto step = (*trainer)->Step();
      if (!step.ok()) return Fail(step.status());
    }
    const double loss_after = (*trainer)->MeanLoss();
    Status installed = (*trainer)->Install(tuned->get());
    if (!installed.ok()) return Fail(installed);
    finetune_s = SecondsSince(tf);
    auto te = std::chrono::steady_clock::now();
    tuned_index = std::move(tuned.value());
    const Index& ti = *tuned_index;
    auto m = Evaluate(
        ctx, [&](const std::string& q, const SearchOptions& o) { return ti.Search(q, o); });
    if (!m.ok()) return Fail(m.status());
    finetune_metrics = *m;
    finetune_json = MetricsJson(*m);
    finetune_json["ndcg@10_relative_gain"] = Gain(m->ndcg10, baseline->ndcg10);
    finetune_json["build_s"] = finetune_s;
    finetune_json["eval_s"] = SecondsSince(te);
    finetune_json["pairs"] = (*trainer)->pairs().size();
    finetune_json["records_used"] = er.exported;
    finetune_json["loss_before"] = loss_before;
    finetune_json["loss_after"] = loss_after;
    finetune_json["epochs"] = to.epochs;
    finetune_json["interpolation"] = to.interpolation;
    finetune_json["sources"] = args.finetune_sources;
    nlohmann::json by_source = nlohmann::json::object();
    const std::vector<size_t> per = (*trainer)->PairsPerSource();
    for (int s = 0; s < kPairSourceCount; ++s) {
      if (to.sources.enabled[s] && per[s] > 0) {
        by_source[PairSourceName(static_cast<PairSource>(s))] = per[s];
      }
    }
    finetune_json["pairs_by_source"] = by_source;
  }
  // The learned reranker, trained once from the same records, through the
  // call every host trains with (TrainSearchReranker): each reranker within
  // the lists it reorders — the plain search's top rerank_depth for
  // "rerank", fold-back's for "all" —, each feedback question held out of
  // the fold-back that ranks its list, in the scope its record keeps.
  std::unique_ptr<LearnedReranker> reranker, all_reranker;
  RerankTrainStats rerank_stats;
  double rerank_train_s = 0, all_rerank_train_s = 0;
  RerankOptions rerank_options;
  rerank_options.depth = args.rerank_depth;
  if (methods.count("rerank")) {
    auto tr = std::chrono::steady_clock::now();
    SearchRerankTraining training;
    training.search = ctx.search;
    training.depth = args.rerank_depth;
    LearnedRerankerOptions& lo = training.reranker;
    lo.memory = args.rerank_memory;
    lo.l2 = args.rerank_l2;
    lo.min_similarity = args.rerank_min_similarity;
    lo.label_prior = args.rerank_prior;
    lo.same_question_similarity = args.rerank_same_similarity;
    lo.first_stage_prior = args.rerank_first_stage_prior;
    training.fold_back = false;
    training.fold_back_options = config({});
    auto trained = TrainSearchReranker(index, state.records, std::nullopt, training, &rerank_stats);
    if (!trained.ok()) return Fail(trained.status());
    reranker = std::move(trained.value());
    rerank_train_s = SecondsSince(tr);
    std::set<std::string> first_stage = methods;
    first_stage.erase("rerank");
    first_stage.erase("demos");     // demos do not move a search
    first_stage.erase("finetune");  // measured alone, on its own copy
    if (!first_stage.empty() || tuned_index) {
      auto ta = std::chrono::steady_clock::now();
      training.fold_back = !first_stage.empty();
      training.fold_back_options = config(first_stage);
      RerankTrainStats ignored;  // the same records: the same counts
      auto all_trained = TrainSearchReranker(tuned_index ? *tuned_index : index, state.records,
                                             std::nullopt, training, &ignored);
      if (!all_trained.ok()) return Fail(all_trained.status());
      all_reranker = std::move(all_trained.value());
      all_rerank_train_s = SecondsSince(ta);
    }
  }
  std::unique_ptr<FoldBack> all_fb;
  for (Run& run : runs) {
    bool use_rerank = run.name == "rerank" || (run.name == "all" && reranker);
    // Every method together runs over the fine-tuned embedder when there is one.
    const Index& ri = tuned_index && (run.name == "all" || run.name == "all_without_rerank")
                          ? *tuned_index
                          : index;
    auto tb = std::chrono::steady_clock::now();
    auto fb = FoldBack::Build(ri, state.records, run.options);
    if (!fb.ok()) return Fail(fb.status());
    const bool all_rerank = use_rerank && run.name == "all" && all_reranker;
    run.build_s = SecondsSince(tb) +
                  (all_rerank   ? all_rerank_train_s
                   : use_rerank ? rerank_train_s
                                : 0) +
                  (&ri != &index ? finetune_s : 0);
    run.stats = (*fb)->stats();
    auto te = std::chrono::steady_clock::now();
    const FoldBack& f = **fb;
    const Reranker* rr = all_rerank ? all_reranker.get() : use_rerank ? reranker.get() : nullptr;
    auto m = Evaluate(ctx, [&](const std::string& q, const SearchOptions& o) {
      return SearchAndRerank(ri, &f, q, o, rr, rerank_options);
    });
    if (!m.ok()) return Fail(m.status());
    run.metrics = *m;
    run.eval_s = SecondsSince(te);
    if (run.name == "all") all_fb = std::move(fb.value());
  }
  // Demos change nothing without an LLM rewriter: report what is measurable
  // offline — how many evaluated questions would get demos.
  size_t with_demos = 0, demo_total = 0, judged = 0;
  double sim_sum = 0;
  if (methods.count("demos")) {
    for (const EvalQuery& q : *ctx.queries) {
      if (!ctx.qrels->count(q.id)) continue;
      ++judged;
      auto demos = all_fb->DemosFor(q.text, 3, std::nullopt);
      with_demos += !demos.empty();
      demo_total += demos.size();
      for (const auto& d : demos) sim_sum += d.similarity;
    }
  }

  // A reranker's models for the JSON report.
  auto models_json = [](const LearnedReranker& rr) {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& mi : rr.Models()) {
      nlohmann::json w = nlohmann::json::object();
      for (size_t k = 0; k < mi.weights.size(); ++k) {
        if (mi.weights[k] != 0) w[RerankFeatureNames()[k]] = mi.weights[k];
      }
      models.push_back({{"scope", mi.scope_key},
                        {"version", mi.version},
                        {"gate_open", mi.gate_open},
                        {"note", mi.note},
                        {"records", mi.records},
                        {"relevant", mi.relevant},
                        {"not_relevant", mi.not_relevant},
                        {"questions", mi.questions},
                        {"pairs", mi.pairs},
                        {"validation_ndcg_gain", mi.validation_gain},
                        {"validation_question_ndcg_gain", mi.validation_question_gain},
                        {"validation_stderr", mi.validation_stderr},
                        {"l2", mi.l2},
                        {"loss_before", mi.loss_before},
                        {"loss_after", mi.loss_after},
                        {"memory", mi.memory},
                        {"weights", w}});
    }
    return models;
  };
  const Run& all = runs.back();
  if (ctx.json) {
    nlohmann::json out;
    out["mode"] = ctx.mode_name;
    out["feedback_queries"] = train->size();
    out["feedback_records"] = state.records.size();
    out["feedback_unjudged_skipped"] = skipped;
    out["feedback_depth"] = args.depth;
    out["labels"] = {{"relevant", relevant},
                     {"not_relevant", not_relevant},
                     {"unlabelled_shown", unlabelled},
                     {"unlabelled_relevant", unlabelled_relevant}};
    out["feedback_label_rate"] = args.label_rate;
    out["feedback_log_bytes"] = sink.data().size();
    out["simulate_s"] = simulate_s;
    out["baseline"] = MetricsJson(*baseline);
    out["with_feedback"] = MetricsJson(all.metrics);
    out["with_feedback"]["methods"] = std::vector<std::string>(methods.begin(), methods.end());
    out["ndcg@10_relative_gain"] = Gain(all.metrics.ndcg10, baseline->ndcg10);
    nlohmann::json per = nlohmann::json::object();
    for (const Run& r : runs) {
      if (r.name == "all") continue;
      nlohmann::json j = MetricsJson(r.metrics);
      j["ndcg@10_relative_gain"] = Gain(r.metrics.ndcg10, baseline->ndcg10);
      j["build_s"] = r.build_s;
      j["eval_s"] = r.eval_s;
      if (r.options.rocchio) {
        j["rocchio_gate"] = {{"records", r.stats.rocchio_gate_records},
                             {"held_out_ndcg_gain", r.stats.rocchio_gate_gain},
                             {"other_questions", r.stats.rocchio_cross_questions}};
      }
      if (r.name == "adapter") {
        j["adapter_trained"] = r.stats.adapter_trained;
        j["adapter_pairs"] = r.stats.triplets;
        j["adapter_loss_before"] = r.stats.adapter_loss_before;
        j["adapter_loss_after"] = r.stats.adapter_loss_after;
        if (!r.stats.adapter_note.empty()) j["adapter_note"] = r.stats.adapter_note;
      }
      if (r.name == "rerank") {
        j["depth"] = args.rerank_depth;
        j["train"] = {{"records", rerank_stats.records},
                      {"used", rerank_stats.used},
                      {"no_consent", rerank_stats.no_consent},
                      {"privileged", rerank_stats.privileged},
                      {"walled", rerank_stats.walled},
                      {"no_labels", rerank_stats.no_labels},
                      {"unlabelled_shown_not_negatives", rerank_stats.unlabelled_shown}};
        j["models"] = models_json(*reranker);
      }
      per[r.name] = j;
    }
    if (methods.count("finetune")) per["finetune"] = finetune_json;
    if (methods.count("demos")) {
      per["demos"] = {{"measurable_offline", false},
                      {"note",
                       "demos only change the queries an LLM rewriter writes; retrieval "
                       "metrics are unchanged without one"},
                      {"demo_candidates", all.stats.demos},
                      {"queries_with_demos", with_demos},
                      {"judged_queries", judged},
                      {"mean_demos", judged ? static_cast<double>(demo_total) / judged : 0.0},
                      {"mean_similarity", demo_total ? sim_sum / demo_total : 0.0}};
    }
    out["methods"] = per;
    out["with_feedback"]["build_s"] = all.build_s;
    // "all" reranks with a model trained within fold-back's lists.
    if (all_reranker) out["with_feedback"]["rerank_models"] = models_json(*all_reranker);
    if (all.options.rocchio) {
      out["with_feedback"]["rocchio_gate"] = {
          {"records", all.stats.rocchio_gate_records},
          {"held_out_ndcg_gain", all.stats.rocchio_gate_gain},
          {"other_questions", all.stats.rocchio_cross_questions}};
    }
    fmt::print(FMT_STRING("{}\n"), out.dump(2));
    return 0;
  }
  fmt::print(
      FMT_STRING("feedback: {} records from {} queries ({} relevant, {} not relevant labels; "
                 "{} unjudged skipped), top {} shown\n"),
      state.records.size(), train->size(), relevant, not_relevant, skipped, args.depth);
  fmt::print(FMT_STRING("{:<10} {:>8} {:>9} {:>9} {:>8}\n"), "", "nDCG@10", "Recall@10", "MRR@10",
             "gain");
  auto line = [&](const char* name, const Metrics& m) {
    fmt::print(FMT_STRING("{:<10} {:8.4f} {:9.4f} {:8.4f} {:+7.1f}%\n"), name, m.ndcg10, m.recall10,
               m.mrr10, 100 * Gain(m.ndcg10, baseline->ndcg10));
  };
  line("baseline", *baseline);
  for (const Run& r : runs) line(r.name.c_str(), r.metrics);
  if (methods.count("finetune")) line("finetune", finetune_metrics);
  if (methods.count("demos")) {
    fmt::print(
        FMT_STRING("demos: {} candidates; {} of {} evaluated questions get demos (not measurable "
                   "offline: they change what an LLM rewriter writes)\n"),
        all.stats.demos, with_demos, judged);
  }
  if (reranker) {
    for (const auto& mi : reranker->Models()) {
      fmt::print(
          FMT_STRING("rerank (scope \"{}\"): {}, {} records, {} pairs, {} questions, held-out "
                     "nDCG gain {:+.4f}{}\n"),
          mi.scope_key, mi.gate_open ? "applied" : mi.note.c_str(), mi.records, mi.pairs,
          mi.questions, mi.validation_gain, mi.memory ? ", with memory" : "");
    }
    if (reranker->Models().empty())
      fmt::print(FMT_STRING("rerank: no usable labels, nothing learned\n"));
  }
  for (const Run& r : runs) {
    if (r.options.adapter) {
      fmt::print(
          FMT_STRING("adapter ({}): {}, {} pairs, loss {:.3f} -> {:.3f}, built in {:.2f}s\n"),
          r.name, r.stats.adapter_trained ? "trained" : r.stats.adapter_note.c_str(),
          r.stats.triplets, r.stats.adapter_loss_before, r.stats.adapter_loss_after, r.build_s);
    }
  }
  return 0;
}

}  // namespace foldback::cli

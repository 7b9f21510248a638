// The fine-tuning API's decisions (foldback/finetune.h): the steps in
// order, intents stored before uploads and creates, look-ups that keep a
// resumed worker from sending either twice, status mapping, retries, the
// multipart body, Azure URLs.
#include "foldback/finetune.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace foldback::finetune {
namespace {

using nlohmann::json;

RemoteSpec Spec() {
  RemoteSpec s;
  s.endpoint.url = "https://api.openai.com/v1";
  s.base_model = "gpt-4o-mini-2024-07-18";
  s.method = "supervised";
  s.filename = "foldback-job1.jsonl";
  s.job_tag = "job1";
  s.poll_ms = 1000;
  return s;
}

wire::HttpResponse Ok(const std::string& body) {
  wire::HttpResponse r;
  r.status = 200;
  r.body = body;
  return r;
}

TEST(Finetune, HappyPathUploadCreatePollSucceed) {
  RemoteSpec spec = Spec();
  Progress p;
  Step s = NextStep(spec, p, 0);
  ASSERT_EQ(s.kind, Step::Kind::kSend);
  EXPECT_EQ(s.call, Call::kUpload);
  EXPECT_EQ(s.before.stage, "uploading");  // the intent, stored before sending
  EXPECT_EQ(s.before.uploads, 1u);
  p = ApplyResponse(spec, s.before, s.call, Ok(R"({"id":"file-1","object":"file"})"), 10, 0);
  EXPECT_EQ(p.stage, "uploaded");
  EXPECT_EQ(p.file_id, "file-1");
  s = NextStep(spec, p, 10);
  EXPECT_EQ(s.call, Call::kCreate);
  EXPECT_EQ(s.before.stage, "creating");
  auto req = BuildRequest(spec, s.call, s.before, "");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->url, "https://api.openai.com/v1/fine_tuning/jobs");
  json body = json::parse(req->body);
  EXPECT_EQ(body["training_file"], "file-1");
  EXPECT_EQ(body["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(body["method"]["type"], "supervised");
  EXPECT_EQ(body["metadata"]["foldback_job"], "job1");
  p = ApplyResponse(spec, s.before, s.call,
                    Ok(R"({"id":"ftjob-1","status":"validating_files","fine_tuned_model":null})"),
                    20, 0);
  EXPECT_EQ(p.stage, "created");
  EXPECT_EQ(p.remote_job_id, "ftjob-1");
  EXPECT_EQ(p.not_before_ms, 20 + 1000);
  s = NextStep(spec, p, 500);
  EXPECT_EQ(s.kind, Step::Kind::kWait);
  EXPECT_EQ(s.wait_until_ms, 1020);
  s = NextStep(spec, p, 1020);
  EXPECT_EQ(s.call, Call::kPoll);
  req = BuildRequest(spec, s.call, s.before, "");
  EXPECT_EQ(req->url, "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1");
  EXPECT_EQ(req->method, "GET");
  p = ApplyResponse(spec, s.before, s.call, Ok(R"({"id":"ftjob-1","status":"running"})"), 1030, 0);
  EXPECT_EQ(p.stage, "created");
  EXPECT_EQ(p.remote_status, "running");
  EXPECT_EQ(p.polls, 1u);
  p = ApplyResponse(
      spec, p, Call::kPoll,
      Ok(R"({"id":"ftjob-1","status":"succeeded","fine_tuned_model":"ft:gpt-4o-mini:acme::x1"})"),
      2100, 0);
  EXPECT_EQ(p.stage, "succeeded");
  EXPECT_EQ(p.fine_tuned_model, "ft:gpt-4o-mini:acme::x1");
  EXPECT_EQ(NextStep(spec, p, 3000).kind, Step::Kind::kSucceeded);
  // The progress survives its JSON (what the store keeps).
  auto back = ProgressFromJson(ProgressToJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->fine_tuned_model, p.fine_tuned_model);
  EXPECT_EQ(back->polls, p.polls);
}

TEST(Finetune, AnInterruptedUploadOrCreateIsLookedUpBeforeItIsSentAgain) {
  RemoteSpec spec = Spec();
  Progress p;
  p.stage = "uploading";  // a worker died after storing the intent
  Step s = NextStep(spec, p, 0);
  EXPECT_EQ(s.call, Call::kFindFile);
  // It arrived: reused, never uploaded again.
  Progress found =
      ApplyResponse(spec, s.before, s.call,
                    Ok(R"({"data":[{"id":"file-9","filename":"other.jsonl","created_at":5},
                     {"id":"file-7","filename":"foldback-job1.jsonl","created_at":3}]})"),
                    1, 0);
  EXPECT_EQ(found.stage, "uploaded");
  EXPECT_EQ(found.file_id, "file-7");
  // It did not: uploaded now.
  Progress missing = ApplyResponse(spec, s.before, s.call, Ok(R"({"data":[]})"), 1, 0);
  EXPECT_EQ(missing.stage, "");
  EXPECT_EQ(NextStep(spec, missing, 1).call, Call::kUpload);

  p.stage = "creating";
  p.file_id = "file-7";
  s = NextStep(spec, p, 0);
  EXPECT_EQ(s.call, Call::kFindJob);
  Progress job = ApplyResponse(
      spec, s.before, s.call,
      Ok(R"({"data":[{"id":"ftjob-3","training_file":"file-7","status":"queued"}]})"), 1, 0);
  EXPECT_EQ(job.stage, "created");
  EXPECT_EQ(job.remote_job_id, "ftjob-3");
  EXPECT_EQ(NextStep(spec, job, 1).call, Call::kPoll);
  Progress none = ApplyResponse(
      spec, s.before, s.call,
      Ok(R"({"data":[{"id":"ftjob-1","training_file":"file-1","status":"queued"}]})"), 1, 0);
  EXPECT_EQ(none.stage, "uploaded");
  EXPECT_EQ(NextStep(spec, none, 1).call, Call::kCreate);
}

TEST(Finetune, RetryableFailuresWaitAndKeepTheStageOthersFail) {
  RemoteSpec spec = Spec();
  Progress p;
  Step s = NextStep(spec, p, 0);
  wire::HttpResponse busy;
  busy.status = 429;
  busy.headers = {{"Retry-After", "2"}};
  busy.body = R"({"error":{"message":"Rate limit reached"}})";
  Progress after = ApplyResponse(spec, s.before, s.call, busy, 100, 0);
  EXPECT_EQ(after.stage, "uploading");  // may have arrived: looked up next
  EXPECT_EQ(after.failures, 1u);
  EXPECT_EQ(after.not_before_ms, 2100);  // Retry-After
  EXPECT_NE(after.error.find("429"), std::string::npos) << after.error;
  EXPECT_NE(after.error.find("Rate limit reached"), std::string::npos) << after.error;
  EXPECT_EQ(NextStep(spec, after, 200).kind, Step::Kind::kWait);
  // Too many in a row: the fine-tune fails.
  Progress worn = after;
  worn.failures = spec.max_failures - 1;
  worn = ApplyTransportFailure(spec, worn, Call::kFindFile, "Connection refused", 5000, 0);
  EXPECT_EQ(worn.stage, "failed");
  EXPECT_NE(worn.error.find("Connection refused"), std::string::npos);
  // Polls never give up on the network...
  Progress polling;
  polling.stage = "created";
  polling.remote_job_id = "ftjob-1";
  polling.failures = 100;
  Progress still = ApplyTransportFailure(spec, polling, Call::kPoll, "reset", 0, 0.5);
  EXPECT_EQ(still.stage, "created");
  EXPECT_GT(still.not_before_ms, 0);
  EXPECT_LE(still.not_before_ms, 60000);
  // ... but a refused key or an unknown job ends it.
  wire::HttpResponse denied;
  denied.status = 401;
  denied.body = R"({"error":{"message":"Incorrect API key provided: sk-ab***yz."}})";
  Progress failed = ApplyResponse(spec, polling, Call::kPoll, denied, 0, 0);
  EXPECT_EQ(failed.stage, "failed");
  EXPECT_NE(failed.error.find("401"), std::string::npos);
  EXPECT_EQ(NextStep(spec, failed, 0).kind, Step::Kind::kFailed);
  // A 2xx that is not JSON is retried.
  Progress junk = ApplyResponse(spec, polling, Call::kPoll, Ok("<html>"), 0, 0);
  EXPECT_EQ(junk.stage, "created");
  EXPECT_EQ(junk.failures, 101u);
}

TEST(Finetune, ARemoteFailureSaysWhy) {
  RemoteSpec spec = Spec();
  Progress p;
  p.stage = "created";
  p.remote_job_id = "ftjob-1";
  p = ApplyResponse(spec, p, Call::kPoll, Ok(R"({"id":"ftjob-1","status":"failed",
      "error":{"code":"invalid_training_file","message":"At least 10 examples are required"}})"),
                    0, 0);
  EXPECT_EQ(p.stage, "failed");
  EXPECT_EQ(p.error,
            "fine-tuning job ftjob-1 failed: At least 10 examples are required "
            "(invalid_training_file)");
  EXPECT_EQ(MapRemoteStatus("validating_files"), RemoteState::kPending);
  EXPECT_EQ(MapRemoteStatus("queued"), RemoteState::kPending);
  EXPECT_EQ(MapRemoteStatus("running"), RemoteState::kRunning);
  EXPECT_EQ(MapRemoteStatus("cancelled"), RemoteState::kCancelled);
}

TEST(Finetune, UploadIsMultipartWithABoundaryTheFileDoesNotHold) {
  RemoteSpec spec = Spec();
  Progress p;
  const std::string file = "{\"messages\":[]}\n{\"messages\":[1]}\n";
  auto req = BuildRequest(spec, Call::kUpload, p, file);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->url, "https://api.openai.com/v1/files");
  std::string type;
  for (const auto& h : req->headers)
    if (h.name == "Content-Type") type = h.value;
  ASSERT_EQ(type.rfind("multipart/form-data; boundary=", 0), 0u) << type;
  std::string boundary = type.substr(type.find('=') + 1);
  EXPECT_EQ(file.find(boundary), std::string::npos);
  EXPECT_NE(req->body.find("name=\"purpose\"\r\n\r\nfine-tune\r\n"), std::string::npos);
  EXPECT_NE(req->body.find("filename=\"foldback-job1.jsonl\""), std::string::npos);
  EXPECT_NE(req->body.find("\r\n\r\n" + file + "\r\n--" + boundary + "--\r\n"), std::string::npos);
  // A file that holds the first boundary gets another.
  std::string tricky = "--" + boundary + "\n";
  auto other = BuildRequest(spec, Call::kUpload, p, tricky);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->body.find("boundary=" + boundary), std::string::npos);
  EXPECT_FALSE(BuildRequest(spec, Call::kUpload, p, "").ok());
}

TEST(Finetune, AzureUrlsAndBadSpecs) {
  RemoteSpec spec = Spec();
  spec.endpoint.provider = wire::Provider::kAzure;
  spec.endpoint.url = "https://Firm.openai.azure.com/openai/deployments/chat4";
  Progress p;
  p.stage = "created";
  p.remote_job_id = "ftjob-abc";
  auto req = BuildRequest(spec, Call::kPoll, p, "");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->url,
            "https://firm.openai.azure.com/openai/fine_tuning/jobs/ftjob-abc?api-version=" +
                std::string(wire::kDefaultAzureApiVersion));
  auto list = BuildRequest(spec, Call::kFindFile, p, "");
  EXPECT_EQ(list->url, "https://firm.openai.azure.com/openai/files?purpose=fine-tune&api-version=" +
                           std::string(wire::kDefaultAzureApiVersion));
  // Azure gets no metadata.
  p.file_id = "file-1";
  auto create = BuildRequest(spec, Call::kCreate, p, "");
  EXPECT_FALSE(json::parse(create->body).contains("metadata"));

  RemoteSpec bad = Spec();
  bad.endpoint.provider = wire::Provider::kOllama;
  EXPECT_FALSE(ValidateRemoteSpec(bad).ok());
  bad = Spec();
  bad.base_model = "";
  EXPECT_NE(ValidateRemoteSpec(bad).message().find("--model"), std::string::npos);
  bad = Spec();
  bad.endpoint.url = "https://user:secret@api.openai.com/v1";
  EXPECT_EQ(ValidateRemoteSpec(bad).message().find("secret"), std::string::npos);
  EXPECT_FALSE(ValidateRemoteSpec(bad).ok());
  p.remote_job_id = "../files";
  EXPECT_FALSE(BuildRequest(Spec(), Call::kPoll, p, "").ok());
  EXPECT_FALSE(ProgressFromJson("{\"stage\":\"created\"}").ok());
  EXPECT_FALSE(ProgressFromJson("[1]").ok());
  EXPECT_TRUE(ProgressFromJson("").ok());
  EXPECT_FALSE(MethodForFormat(ExportFormat::kTriplets).ok());
  EXPECT_EQ(*MethodForFormat(ExportFormat::kOpenAiPreference), "dpo");
}

}  // namespace
}  // namespace foldback::finetune

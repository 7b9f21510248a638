// The worker's side of `finetune` jobs: one item (the training file the
// approval showed) handed to a trainer.
//
//   openai:  the core's fine-tuning steps (foldback/finetune.h) over
//            libcurl — upload, create, poll — with the progress (file id,
//            remote job id, status) stored in the job store before and
//            after every call, so a worker killed at any point is resumed
//            by another without a second upload or a second job.
//   command: the firm's own trainer, run without a shell: its argv
//            template is split like a shell's words and {file} / {out}
//            replaced by the training file and a fresh output path; stdout
//            and stderr go to a log beside them; the model path is {out}
//            when the command made it, else the last line it printed when
//            that names an existing path. The command dies with its worker
//            (PR_SET_PDEATHSIG); a resumed worker runs it again into a new
//            output path.
//
// Working files live in <index folder>/finetune/<job id>/.
#ifndef FOLDBACK_NATIVE_JOBS_FINETUNE_WORKER_H_
#define FOLDBACK_NATIVE_JOBS_FINETUNE_WORKER_H_

#include <string>

#include "jobs/job_store.h"
#include "jobs/worker.h"

namespace foldback::jobs {

// The training file's name at the service: "foldback-<job id>.jsonl".
std::string FinetuneFileName(const std::string& job_id);

// The fine-tune's progress as stored with its item (its checkpoint), and
// the item's state; NotFound for a job without an item.
struct FinetuneState {
  ItemState item_state = ItemState::kPending;
  std::string checkpoint;  // JSON (finetune::Progress, or the command's)
  std::string result;      // JSON, done only
  std::string error;
};
Result<FinetuneState> ReadFinetuneState(JobStore& store, const std::string& job_id);

// InvalidArgument when `command` does not parse as a shell's words (or is
// empty).
Status CheckTrainingCommand(const std::string& command);

// Works the job's item until it is done or failed (false), or until a stop
// (false, the item given back); true when another worker holds it (look
// again later).
Result<bool> WorkFinetune(JobStore& store, const JobInfo& job, const WorkerOptions& o,
                          const std::string& me, WorkerReport* report);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_FINETUNE_WORKER_H_

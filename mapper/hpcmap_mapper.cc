/* Registration of the hpcmap policy mapper. */
#include "hpcmap_mapper.h"

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "legion.h"
#include "mapping_error.h"
#include "policy_mapper.h"
#include "sharding.h"

namespace hpcmap {

namespace {

const char *flag_value(const char *flag)
{
  const Legion::InputArgs &args = Legion::Runtime::get_input_args();
  for (int i = 1; i + 1 < args.argc; i++)
    if (!strcmp(args.argv[i], flag)) return args.argv[i + 1];
  return nullptr;
}

/* A fatal signal ends the process at once with that signal, after one line on stderr.
 * Realm's own handler can leave a crashed process waiting forever; hpcmap must see a crash. */
void die_on_signal(int signo)
{
  static const char prefix[] = "hpcmap: Legion process received fatal signal ";
  char digits[4] = {char('0' + signo / 10 % 10), char('0' + signo % 10), '\n', 0};
  ssize_t ignored = write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
  ignored = write(STDERR_FILENO, digits, 3);
  (void)ignored;
  signal(signo, SIG_DFL);
  raise(signo);
}

void restore_fatal_signals()
{
  for (int signo : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) signal(signo, die_on_signal);
}

/* The policy file, read and checked; a bad file ends the process with one line. */
Policy load_policy(const char *path)
{
  std::ifstream in(path);
  if (!in) die(path, 0, "cannot read the policy file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return Policy(read_ir(Json::parse(text.str())));
  } catch (const std::exception &e) {
    die(path, 0, e.what());
  }
}

/* Mapping statements whose function builds a machine space of a kind this node has no processors
 * of do not apply (as Task skips such kinds): one mapper serves CPU-only and GPU machines. */
void leave_out_foreign_kinds(SharedState &state, int64_t node)
{
  Policy &policy = state.policy;
  const MachineShape shape = state.machine.shape(node);
  for (const auto *list : {&policy.ir().index_maps, &policy.ir().single_maps})
    for (const TaskListRule &rule : *list)
      for (const std::string &kind : policy.machine_kinds(rule.function))
        if (shape.count(kind) == 0) {
          policy.disable(rule);
          if (state.log.enabled())
            state.log.write("{\"call\": \"skip\", \"statement\": \"" +
                            std::string(list == &policy.ir().index_maps ? "IndexTaskMap" : "SingleTaskMap") +
                            "\", \"line\": " + std::to_string(rule.line) + ", \"function\": " +
                            json_string(rule.function) + ", \"reason\": \"this machine has no " + kind +
                            " processors\"}");
          break;
        }
}

void install(Legion::Machine machine, Legion::Runtime *runtime, const std::set<Legion::Processor> &local_procs)
{
  restore_fatal_signals();
  const char *path = flag_value("-hpcmap:policy");
  if (!path) return;  // without a policy DefaultMapper stays in place
  auto state = std::make_shared<SharedState>(load_policy(path), machine);
  int64_t node = local_procs.empty() ? 0 : local_procs.begin()->address_space();
  state->log.open(flag_value("-hpcmap:log"), (int)node);
  try {
    Evaluator(state->policy.ir(), state->machine.shape(node)).run_prints();
  } catch (const MappingError &e) {
    die(state->policy.source(), e.line, e.what());
  }
  leave_out_foreign_kinds(*state, node);
  register_sharding_functors(runtime, *state, node);
  for (Legion::Processor p : local_procs)
    runtime->replace_default_mapper(new PolicyMapper(runtime->get_mapper_runtime(), machine, p, state), p);
}

}  // namespace

void register_mapper() { Legion::Runtime::add_registration_callback(install); }

}  // namespace hpcmap

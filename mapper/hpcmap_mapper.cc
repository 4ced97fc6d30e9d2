/* Registration of the hpcmap policy mapper. */
#include "hpcmap_mapper.h"

#include <csignal>
#include <cstring>
#include <unistd.h>

#include "legion.h"

namespace hpcmap {

namespace {

const char *policy_path()
{
  const Legion::InputArgs &args = Legion::Runtime::get_input_args();
  for (int i = 1; i + 1 < args.argc; i++)
    if (!strcmp(args.argv[i], "-hpcmap:policy")) return args.argv[i + 1];
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

void install(Legion::Machine, Legion::Runtime *, const std::set<Legion::Processor> &)
{
  restore_fatal_signals();
  // Without a policy DefaultMapper stays in place.
}

}  // namespace

void register_mapper()
{
  Legion::Runtime::add_registration_callback(install);
  (void)policy_path;
}

}  // namespace hpcmap

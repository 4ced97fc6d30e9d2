/* Helpers shared by hpcmap's benchmarks: flags, timing, and the HPCMAP_RESULT line. */
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "legion.h"

namespace hpcmap_app {

/* Registers FN as task `id`'s variant for processors of `kind`; a task whose FN returns a value
 * gets that value as its future. Leaf variants launch no subtasks. */
template <auto FN>
void register_variant(Legion::TaskID id, const char *name, Legion::Processor::Kind kind, bool leaf = true)
{
  using Result = std::invoke_result_t<decltype(FN), const Legion::Task *, const std::vector<Legion::PhysicalRegion> &,
                                      Legion::Context, Legion::Runtime *>;
  Legion::TaskVariantRegistrar registrar(id, name);
  registrar.add_constraint(Legion::ProcessorConstraint(kind));
  if (leaf) registrar.set_leaf();
  if constexpr (std::is_void_v<Result>)
    Legion::Runtime::preregister_task_variant<FN>(registrar, name);
  else
    Legion::Runtime::preregister_task_variant<Result, FN>(registrar, name);
}

/* The value of integer flag `name` (e.g. "-nx") in the process's command line, or `fallback`. */
inline long long int_flag(const Legion::InputArgs &args, const char *name, long long fallback)
{
  for (int i = 1; i + 1 < args.argc; i++)
    if (!strcmp(args.argv[i], name)) return atoll(args.argv[i + 1]);
  return fallback;
}

/* The value of string flag `name`, or `fallback`. */
inline std::string str_flag(const Legion::InputArgs &args, const char *name, const char *fallback)
{
  for (int i = 1; i + 1 < args.argc; i++)
    if (!strcmp(args.argv[i], name)) return args.argv[i + 1];
  return fallback;
}

/* A timestamp (microseconds) taken after every operation issued so far has finished. */
inline long long fenced_time_us(Legion::Context ctx, Legion::Runtime *runtime)
{
  runtime->issue_execution_fence(ctx);
  return runtime->get_current_time_in_microseconds(ctx).get_result<long long>();
}

/* Prints the one line hpcmap reads. `extra` is a JSON fragment (`"k": v, ...`) or empty. */
inline void print_result(const char *app, double elapsed_s, double metric, const char *unit,
                         bool passed, const std::string &extra)
{
  printf("HPCMAP_RESULT {\"app\": \"%s\", \"elapsed_s\": %.9f, \"metric\": %.6f, \"unit\": \"%s\", "
         "\"check\": \"%s\"%s%s}\n",
         app, elapsed_s, metric, unit, passed ? "pass" : "fail", extra.empty() ? "" : ", ",
         extra.c_str());
  fflush(stdout);
}

}  // namespace hpcmap_app

/* The language's kind words <-> Legion's processor and memory kinds (dsl.md, "Kinds"). */
#pragma once

#include <string>

#include "legion.h"

namespace hpcmap {

/* NO_KIND for a word that is not a processor kind. */
Legion::Processor::Kind proc_kind(const std::string &word);
/* NO_MEMKIND for a word that is not a memory kind (VIRTUAL included: it is no memory). */
Legion::Memory::Kind mem_kind(const std::string &word);
/* "CPU", "GPU", ... or "OTHER". */
const char *proc_word(Legion::Processor::Kind kind);
/* "SYSMEM", "FBMEM", ... or "OTHER". */
const char *mem_word(Legion::Memory::Kind kind);

}  // namespace hpcmap

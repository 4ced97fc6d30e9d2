/* Kind tables. */
#include "kinds.h"

namespace hpcmap {

using Legion::Memory;
using Legion::Processor;

namespace {

const std::pair<const char *, Processor::Kind> kProcs[] = {
    {"CPU", Processor::LOC_PROC}, {"GPU", Processor::TOC_PROC}, {"OMP", Processor::OMP_PROC},
    {"IO", Processor::IO_PROC},   {"PY", Processor::PY_PROC},   {"PROC", Processor::PROC_SET}};

const std::pair<const char *, Memory::Kind> kMems[] = {
    {"SYSMEM", Memory::SYSTEM_MEM}, {"FBMEM", Memory::GPU_FB_MEM},   {"ZCMEM", Memory::Z_COPY_MEM},
    {"RDMEM", Memory::REGDMA_MEM},  {"SOCKMEM", Memory::SOCKET_MEM}};

}  // namespace

Processor::Kind proc_kind(const std::string &word)
{
  for (const auto &k : kProcs)
    if (word == k.first) return k.second;
  return Processor::NO_KIND;
}

Memory::Kind mem_kind(const std::string &word)
{
  for (const auto &k : kMems)
    if (word == k.first) return k.second;
  return Memory::NO_MEMKIND;
}

const char *proc_word(Processor::Kind kind)
{
  for (const auto &k : kProcs)
    if (kind == k.second) return k.first;
  return "OTHER";
}

const char *mem_word(Memory::Kind kind)
{
  for (const auto &k : kMems)
    if (kind == k.second) return k.first;
  return "OTHER";
}

}  // namespace hpcmap

// Where this process stands in a multi-process job, read from the launcher's environment:
// torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE), OpenMPI's mpirun
// (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK, ...), or ditstream's own
// `--gpus N` launcher (which sets torchrun's variables). MASTER_ADDR/MASTER_PORT name the
// rendezvous server that rank 0 runs. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ditstream::parallel {

enum class RankSource { single, torchrun, openmpi };
std::string_view to_string(RankSource source);

struct RankEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // which GPU of this host
  int local_world_size = 1;  // ranks on this host
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;
  RankSource source = RankSource::single;
  // torchrun's agent already hosts the store at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0 included, connects as a client.
  bool agent_store = false;

  bool is_distributed() const { return world_size > 1; }
};

// Reads a variable; std::nullopt when unset. Tests pass a map, the service the process environment.
using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;

// torchrun's variables win over OpenMPI's when both are present (torchrun under mpirun sets its
// own). Neither: a world of one. Malformed or inconsistent values throw ditstream::Error naming
// the variable, its value and what is allowed.
RankEnvironment rank_environment_from(const EnvironmentLookup& lookup);
RankEnvironment rank_environment_from_process();

// NCCL settings every rank must share. NVLink multicast (NVLS) stays off: NCCL_NVLS_ENABLE is set
// to 0 when unset and forced back to 0 (with a warning) when set to anything else.
void apply_nccl_environment_defaults();

}  // namespace ditstream::parallel

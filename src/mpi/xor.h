// XOR sets (docs/mpi.md, "XOR sets"): the ranks of a set are on distinct
// nodes; each keeps, beside its own image, one parity block of
// 1/(n-1) of the set's largest image, and the set rebuilds any one lost
// member from the others' images and parity blocks.
//
// Layout, for a set of n members (index 0..n-1, in rank order) whose
// largest image has L bytes: c = L/(n-1) rounded up to 8 bytes; member j's
// image, zero-padded to (n-1)*c, is cut into chunks 0..n-2 of c bytes, and
// its chunk (i-j-1) mod n belongs to member i's parity:
//   parity(i) = XOR over j != i of chunk((i-j-1) mod n) of member j.
// Member m's chunk q is in parity((m+q+1) mod n) alone, XOR'ed with one
// chunk of every other member but that parity's owner: all survivors.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

namespace ckpt::mpi {

// A set id for every rank: ranks with the same index on their node, over a
// group of `nodes_per_set` consecutive nodes (the last group takes the
// remainder), so that no two members of a set share a node.
std::vector<int> xor_sets(const std::vector<int>& node_of, int nodes_per_set);

// The parity block size of a set of n members whose largest image has
// `largest` bytes (n >= 2).
uint64_t xor_chunk(uint64_t largest, int n);

// Collective over `set` (members in rank order): writes this member's
// parity block to `parity_path` (atomically) from its image `image` of
// `size` bytes (size 0 and any path when its image could not be written:
// it still takes part). The parity's size and xxh3.
Status xor_encode(MPI_Comm set, const std::string& image, uint64_t size,
                  const std::string& parity_path, uint64_t* parity_size, uint64_t* parity_hash);

// Collective over `set`: member `lost` gets its image back, written to
// `out` (atomically) and checked against `hash`. `sizes` are every member's
// image sizes (from the manifest); the others read their own image and
// parity block (`image`, `parity`), the lost member neither.
Status xor_rebuild(MPI_Comm set, int lost, const std::vector<uint64_t>& sizes,
                   const std::string& image, const std::string& parity, const std::string& out,
                   uint64_t hash);

}  // namespace ckpt::mpi

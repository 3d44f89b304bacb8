// Sockets other than the pairs of pipes.h. A listening or bound socket is
// rebuilt at restart on the same address; a socket connected to a peer
// outside the job cannot be (the peer is not saved), so, as the user
// chooses at `ckpt run`, the checkpoint that meets it either fails naming
// it, or records it to come back closed and says so then, not at restart.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <ckpt/status.hpp>

#include "control/process_image.h"

namespace ckpt::control {

// FdInfo.sock_state for kSocket.
enum SocketState : uint32_t {
  kSocketFresh = 0,      // neither bound nor connected
  kSocketBound = 1,      // bound (a datagram socket, say): bound again
  kSocketListening = 2,  // listening: bound again and listening
  kSocketClosed = 3,     // was connected outside the job: comes back closed
  kSocketConnected = 4,  // TCP, connected to another socket of the job: connected again
  // UDP with a default peer (connect): bound and connected again to that
  // address, whoever has it (a datagram socket has no connection to lose).
  kSocketDatagramPeer = 5,
};

// Fills a kSocket descriptor from the program's socket (through pidfd).
// *outside: a description of the peer when it is connected
// ("TCP 127.0.0.1:40022 -> 93.184.216.34:443"), else empty; such a socket
// is recorded closed, with its local address in addr and its peer's in
// peer_addr, for capture_shared to pair with the other end if the job has it.
Status capture_socket(int pidfd, FdInfo* f, std::string* outside);

// At restart: a socket like f's, bound, listening or closed as recorded.
// -1 with *error on failure.
int make_socket(const FdInfo& f, std::string* error);

// At restart: the two ends of a TCP connection between sockets of the job
// (kSocketConnected; server: the end whose local address a listener of the
// job had, or either), connected again on their addresses through
// `listener` (the job's, or -1 for a temporary one). *client, *server: the
// new ends. false with *error on failure.
bool make_tcp_pair(const FdInfo& client, const FdInfo& server, int listener, int* cfd, int* sfd,
                   std::string* error);

// At restart, once every socket of the job is made (`sockets`: inode -> new
// descriptor): the datagrams that waited in f's queue are sent to it again,
// oldest first, each from the job's socket that had sent it when there is
// one (so a reply goes where it went before), else from a temporary socket
// bound to the sender's address if it can be (never a unix path: that would
// make a file), else from an unnamed one. Then a UDP socket with a default
// peer is connected to it again (connected, it would have dropped
// datagrams from anyone else). false with *error on failure.
bool requeue_datagrams(const FdInfo& f, const std::vector<FdInfo>& fds,
                       const std::map<uint64_t, int>& sockets, std::string* error);

// The image's checks of a kSocket record: nullptr if sound.
const char* check_socket(const FdInfo& f);

}  // namespace ckpt::control

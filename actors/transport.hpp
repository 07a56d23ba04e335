// How the nodes of a cluster reach each other: CAF's BASP either over plain
// TCP (CAF's own middleman; no authentication, for loopback development) or
// over mutually authenticated TLS, when the cluster file names a CA
// ([cluster.tls]). With TLS, both ends of every connection present a
// certificate signed by the cluster CA before BASP sees a single byte: a
// process without such a certificate cannot join, spawn, call, fence or
// inject anything, and each refusal is reported (peer address and reason).
//
// The TLS transport is a CAF middleman actor (the caf::io::middleman_actor
// interface: publish, connect, ...) whose sockets speak TLS 1.2 through
// OpenSSL. Accepted connections are handshaken on a dedicated thread with a
// deadline, so a silent or slow peer never holds up the network thread;
// outgoing connections are handshaken in the transport actor's own thread,
// so a refused connect fails with the server's reason. TLS 1.2 rather than
// 1.3: in 1.3 a client's handshake completes before the server has checked
// its certificate, and a refused client would only see a closed connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "caf/io/middleman_actor.hpp"

#include "actors/cluster_config.hpp"

namespace ftsr {

/// One endpoint's TLS credentials, loaded and checked: the cluster CA, the
/// endpoint's certificate and its key. Immutable; shared by all connections
/// of a node (thread-safe).
class tls_context;

/// Loads the CA file `ca` and the identity `id`. Errors (errc::bad_config,
/// naming the file and OpenSSL's reason): a file that does not parse, a key
/// that does not belong to the certificate, an encrypted key (unsupported),
/// a certificate that the CA did not sign.
caf::expected<std::shared_ptr<const tls_context>>
load_tls_context(const std::string& ca, const tls_identity& id);

/// Called for each refused connection: `incoming` (a peer connected to us)
/// or not (our connect), the peer's address ("host:port") and the reason.
/// Called from the transport's threads.
using refusal_handler = std::function<void(
  bool incoming, const std::string& peer, const std::string& reason)>;

/// Spawns a TLS transport for `sys` (which must have loaded the middleman).
/// `handshake_timeout` bounds each TLS handshake, accepted or initiated.
/// Stop it with an exit message before the actor system shuts down.
caf::io::middleman_actor
spawn_tls_transport(caf::actor_system& sys,
                    std::shared_ptr<const tls_context> ctx,
                    refusal_handler on_refusal,
                    std::chrono::milliseconds handshake_timeout);

/// The connection manager of the ftsr node running `sys`: its TLS transport
/// when the cluster uses TLS, else CAF's plain middleman actor. Every ftsr
/// connection is made through it (connect_atom / publish_atom).
caf::io::middleman_actor transport_handle(caf::actor_system& sys);

/// Makes `whom` reachable on host:port through transport_handle(sys).
/// Blocking; not from inside an actor. Returns the bound port.
caf::expected<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom,
                                const std::string& host, uint16_t port);

/// The actor published at host:port, through transport_handle(sys).
/// Blocking (at most `t`); not from inside an actor.
caf::expected<caf::actor> remote_actor(caf::actor_system& sys,
                                       const std::string& host, uint16_t port,
                                       std::chrono::milliseconds t);

} // namespace ftsr

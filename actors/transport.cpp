// The TLS transport: OpenSSL sessions under CAF's BASP broker (see
// transport.hpp for the contract).
#include "actors/transport.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "caf/io/middleman_actor_impl.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/doorman_impl.hpp"
#include "caf/io/network/stream_impl.hpp"

#include "actors/errors.hpp"
#include "actors/node.hpp"

namespace ftsr {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using caf::io::network::rw_state;
using clock_type = std::chrono::steady_clock;

struct ssl_deleter {
  void operator()(SSL* p) const {
    SSL_free(p);
  }
  void operator()(SSL_CTX* p) const {
    SSL_CTX_free(p);
  }
};

using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

/// At most this many accepted connections may be in their TLS handshake at
/// once; more are refused (bounds what a flood of idle connections costs).
constexpr size_t max_pending_handshakes = 64;

// OpenSSL writes to sockets with write(2): a peer that closed its end raises
// SIGPIPE, which would kill the process. Threads doing TLS I/O keep SIGPIPE
// blocked (a blocked SIGPIPE stays pending, harmlessly).
void block_sigpipe_in_this_thread() {
  thread_local bool blocked = [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return true;
  }();
  static_cast<void>(blocked);
}

// Drains this thread's OpenSSL error queue into one readable line.
std::string ssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    auto reason = ERR_reason_error_string(e);
    std::string text = reason != nullptr ? reason
                                         : "error " + std::to_string(e);
    if (out.find(text) == std::string::npos)
      out += (out.empty() ? "" : "; ") + text;
  }
  return out;
}

enum class step { done, want_read, want_write, failed };

// One non-blocking step of a handshake; `reason` says why it failed.
step handshake_step(SSL* ssl, std::string& reason) {
  block_sigpipe_in_this_thread();
  ERR_clear_error();
  auto ret = SSL_do_handshake(ssl);
  if (ret == 1)
    return step::done;
  auto err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ)
    return step::want_read;
  if (err == SSL_ERROR_WANT_WRITE)
    return step::want_write;
  reason = ssl_errors();
  auto verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    reason += std::string{reason.empty() ? "" : " "} + "("
              + X509_verify_cert_error_string(verify) + ")";
  if (reason.empty())
    reason = "connection closed during the TLS handshake (not a TLS peer?)";
  return step::failed;
}

std::string peer_of(native_socket fd) {
  auto host = caf::io::network::remote_addr_of_fd(fd);
  auto port = caf::io::network::remote_port_of_fd(fd);
  return (host ? *host : std::string{"?"}) + ":"
         + (port ? std::to_string(*port) : std::string{"?"});
}

// Passphrase callback refusing encrypted keys (OpenSSL's default would
// prompt on the terminal).
int no_passphrase(char*, int, int, void*) {
  return 0;
}

int poll_ms(clock_type::duration d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
}

} // namespace

class tls_context {
public:
  explicit tls_context(SSL_CTX* ctx) : ctx_(ctx) {
    // nop
  }

  /// A session on `fd` (which it does not own), as server or client.
  ssl_ptr session(native_socket fd, bool server) const {
    ssl_ptr ssl{SSL_new(ctx_.get())};
    if (ssl == nullptr || SSL_set_fd(ssl.get(), fd) != 1)
      return nullptr;
    if (server)
      SSL_set_accept_state(ssl.get());
    else
      SSL_set_connect_state(ssl.get());
    return ssl;
  }

private:
  std::unique_ptr<SSL_CTX, ssl_deleter> ctx_;
};

caf::expected<std::shared_ptr<const tls_context>>
load_tls_context(const std::string& ca, const tls_identity& id) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, ssl_deleter> ctx{SSL_CTX_new(TLS_method())};
  auto fail = [](const std::string& what) {
    auto why = ssl_errors();
    return make_error(errc::bad_config,
                      what + (why.empty() ? "" : ": " + why));
  };
  if (ctx == nullptr)
    return fail("cannot create a TLS context");
  auto* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
  // Forward-secret AEAD suites only; no renegotiation, no session tickets
  // (sessions are long-lived, resumption buys nothing).
  if (SSL_CTX_set_cipher_list(c, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1)
    return fail("cannot set the TLS cipher list");
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  // Read ahead: one read(2) per socket event rather than two per record
  // (header, body); what it buffers is drained via must_read_more.
  SSL_CTX_set_read_ahead(c, 1);
  // CAF's stream retries a partial write from a moved position.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE
                        | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_load_verify_locations(c, ca.c_str(), nullptr) != 1)
    return fail("cannot load CA file '" + ca + "'");
  if (SSL_CTX_use_certificate_chain_file(c, id.cert.c_str()) != 1)
    return fail("cannot load certificate file '" + id.cert + "'");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_file(id.key.c_str(),
                                                             "r"),
                                                BIO_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{
    bio == nullptr ? nullptr
                   : PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase,
                                             nullptr),
    EVP_PKEY_free};
  if (key == nullptr)
    return fail("cannot load key file '" + id.key + "' (PEM, unencrypted)");
  if (X509_check_private_key(SSL_CTX_get0_certificate(c), key.get()) != 1) {
    ERR_clear_error();
    return fail("key file '" + id.key + "' does not belong to certificate '"
                + id.cert + "'");
  }
  if (SSL_CTX_use_PrivateKey(c, key.get()) != 1)
    return fail("cannot use key file '" + id.key + "'");
  // Our own certificate must pass the check that peers will apply: a node
  // with a wrong certificate fails here, with the reason, not at each peer.
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> check{
    X509_STORE_CTX_new(), X509_STORE_CTX_free};
  if (check == nullptr
      || X509_STORE_CTX_init(check.get(), SSL_CTX_get_cert_store(c),
                             SSL_CTX_get0_certificate(c), nullptr)
           != 1)
    return fail("cannot check certificate '" + id.cert + "'");
  if (X509_verify_cert(check.get()) != 1)
    return make_error(errc::bad_config,
                      "certificate '" + id.cert + "' is not valid for CA '"
                        + ca + "': "
                        + X509_verify_cert_error_string(
                          X509_STORE_CTX_get_error(check.get())));
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  return std::make_shared<const tls_context>(ctx.release());
}

namespace {

// Reads and writes of an established TLS connection, for CAF's stream.
class tls_policy {
public:
  explicit tls_policy(std::shared_ptr<SSL> ssl) : ssl_(std::move(ssl)) {
    // nop
  }

  rw_state read_some(size_t& result, native_socket, void* buf, size_t len) {
    result = 0;
    if (len == 0)
      return rw_state::success;
    block_sigpipe_in_this_thread();
    ERR_clear_error();
    auto n = SSL_read(ssl_.get(), buf, clamp(len));
    if (n > 0) {
      result = static_cast<size_t>(n);
      return rw_state::success;
    }
    return outcome(n);
  }

  rw_state write_some(size_t& result, native_socket, const void* buf,
                      size_t len) {
    result = 0;
    if (len == 0)
      return rw_state::indeterminate;
    block_sigpipe_in_this_thread();
    ERR_clear_error();
    auto n = SSL_write(ssl_.get(), buf, clamp(len));
    if (n > 0) {
      result = static_cast<size_t>(n);
      return rw_state::success;
    }
    return outcome(n);
  }

  // Bytes read ahead or decrypted wait inside OpenSSL, where poll cannot
  // see them.
  bool must_read_more(native_socket, size_t) {
    return SSL_has_pending(ssl_.get()) == 1;
  }

private:
  static int clamp(size_t len) {
    return static_cast<int>(std::min<size_t>(len, INT_MAX));
  }

  // Nothing transferred: wait for the socket (success with 0 bytes), or
  // the connection is over.
  rw_state outcome(int ret) {
    auto err = SSL_get_error(ssl_.get(), ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return rw_state::success;
    ERR_clear_error();
    return rw_state::failure;
  }

  std::shared_ptr<SSL> ssl_;
};

// A connection whose TLS handshake is complete, handed to the BASP broker.
class tls_scribe : public caf::io::scribe {
public:
  tls_scribe(default_multiplexer& mpx, native_socket fd,
             std::shared_ptr<SSL> ssl)
    : scribe(caf::io::network::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, std::move(ssl)) {
    // nop
  }

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
    }
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }

  std::vector<char>& wr_buf() override {
    return stream_.wr_buf();
  }

  std::vector<char>& rd_buf() override {
    return stream_.rd_buf();
  }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override {
    stream_.flush(this);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override {
    stream_.activate(this);
  }

  void remove_from_loop() override {
    stream_.passivate();
  }

private:
  bool launched_ = false;
  caf::io::network::stream_impl<tls_policy> stream_;
};

// Runs the server side of TLS handshakes of accepted connections on its
// own thread (poll over all of them, each with a deadline); a connection
// that completes goes to its doorman's broker in the multiplexer thread.
class handshaker {
public:
  handshaker(default_multiplexer& mpx, std::shared_ptr<const tls_context> ctx,
             refusal_handler on_refusal, std::chrono::milliseconds timeout)
    : mpx_(mpx),
      ctx_(std::move(ctx)),
      on_refusal_(std::move(on_refusal)),
      timeout_(timeout),
      wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread{[this] { run(); }};
  }

  ~handshaker() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    wake();
    thread_.join();
    for (auto& p : incoming_)
      caf::io::network::close_socket(p.fd);
    close(wake_);
  }

  /// Takes over the accepted socket `fd` of `door`. Thread-safe.
  void accept(native_socket fd, caf::io::doorman_ptr door) {
    pending p{fd, ctx_->session(fd, true), peer_of(fd),
              clock_type::now() + timeout_, POLLIN, std::move(door)};
    if (p.ssl == nullptr) {
      refuse(p, "cannot create a TLS session: " + ssl_errors());
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      incoming_.push_back(std::move(p));
    }
    wake();
  }

private:
  struct pending {
    native_socket fd;
    ssl_ptr ssl;
    std::string peer;
    clock_type::time_point deadline;
    short events;
    caf::io::doorman_ptr door;
  };

  void wake() {
    uint64_t one = 1;
    auto n = write(wake_, &one, sizeof(one));
    static_cast<void>(n); // a full counter wakes the thread as well
  }

  void refuse(pending& p, const std::string& reason) {
    on_refusal_(true, p.peer, reason);
    p.ssl.reset();
    caf::io::network::close_socket(p.fd);
  }

  // Hands the connection to the doorman's broker, in the multiplexer
  // thread (the only one that may touch brokers and their servants).
  void deliver(pending& p) {
    auto& mpx = mpx_;
    std::shared_ptr<SSL> ssl{p.ssl.release(), SSL_free};
    mpx.post([&mpx, fd = p.fd, ssl, door = std::move(p.door)] {
      if (door->detached()) {
        caf::io::network::close_socket(fd);
        return;
      }
      auto scribe = caf::make_counted<tls_scribe>(mpx, fd, ssl);
      auto hdl = scribe->hdl();
      door->parent()->add_scribe(std::move(scribe));
      door->new_connection(&mpx, hdl);
    });
  }

  void run() {
    std::vector<pending> active;
    std::vector<pollfd> fds;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (stopping_)
          break;
        for (auto& p : incoming_) {
          if (active.size() < max_pending_handshakes)
            active.push_back(std::move(p));
          else
            refuse(p, "too many TLS handshakes in progress");
        }
        incoming_.clear();
      }
      fds.assign(1, pollfd{wake_, POLLIN, 0});
      auto next = clock_type::time_point::max();
      for (auto& p : active) {
        fds.push_back(pollfd{p.fd, p.events, 0});
        next = std::min(next, p.deadline);
      }
      auto wait = active.empty() ? -1 : poll_ms(next - clock_type::now());
      if (::poll(fds.data(), fds.size(), wait) < 0 && errno != EINTR)
        break;
      if (fds[0].revents != 0) {
        uint64_t n;
        static_cast<void>(read(wake_, &n, sizeof(n)));
      }
      auto now = clock_type::now();
      std::vector<pending> still;
      for (size_t i = 0; i < active.size(); ++i) {
        auto& p = active[i];
        if (fds[i + 1].revents != 0) {
          std::string reason;
          auto s = handshake_step(p.ssl.get(), reason);
          if (s == step::done) {
            deliver(p);
            continue;
          }
          if (s == step::failed) {
            refuse(p, reason);
            continue;
          }
          p.events = s == step::want_read ? POLLIN : POLLOUT;
        }
        if (now >= p.deadline) {
          refuse(p, "no TLS handshake within "
                      + std::to_string(timeout_.count()) + " ms");
          continue;
        }
        still.push_back(std::move(p));
      }
      active.swap(still);
    }
    for (auto& p : active)
      caf::io::network::close_socket(p.fd);
  }

  default_multiplexer& mpx_;
  std::shared_ptr<const tls_context> ctx_;
  refusal_handler on_refusal_;
  std::chrono::milliseconds timeout_;
  int wake_;
  std::mutex mtx_;
  bool stopping_ = false;
  std::vector<pending> incoming_;
  std::thread thread_;
};

// A listening socket whose connections go through the handshaker first.
// The transport actor owns the handshaker (and joins its thread when it
// exits); a doorman that outlives it closes what it accepts.
class tls_doorman : public caf::io::network::doorman_impl {
public:
  tls_doorman(default_multiplexer& mpx, native_socket fd,
              std::weak_ptr<handshaker> hs)
    : doorman_impl(mpx, fd), hs_(std::move(hs)) {
    // nop
  }

  bool new_connection() override {
    if (detached())
      return false;
    auto fd = acceptor_.accepted_socket();
    if (auto hs = hs_.lock()) {
      caf::io::network::nonblocking(fd, true);
      hs->accept(fd, this);
    } else {
      caf::io::network::close_socket(fd);
    }
    return true;
  }

private:
  std::weak_ptr<handshaker> hs_;
};

// CAF's middleman actor (publish, connect, remote spawn, ...) with TLS
// sockets: listening sockets get tls_doormen, and connect() completes the
// client handshake before BASP starts.
class tls_transport : public caf::io::middleman_actor_impl {
public:
  tls_transport(caf::actor_config& cfg, caf::actor broker,
                std::shared_ptr<const tls_context> ctx,
                refusal_handler on_refusal,
                std::chrono::milliseconds timeout)
    : middleman_actor_impl(cfg, std::move(broker)),
      ctx_(std::move(ctx)),
      on_refusal_(std::move(on_refusal)),
      timeout_(timeout) {
    // nop
  }

  const char* name() const override {
    return "ftsr.tls_transport";
  }

  void on_exit() override {
    hs_.reset();
    middleman_actor_impl::on_exit();
  }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host,
                                             uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd)
      return std::move(fd.error());
    auto peer = host + ":" + std::to_string(port);
    caf::io::network::nonblocking(*fd, true);
    auto ssl = ctx_->session(*fd, false);
    std::string reason = ssl == nullptr ? "cannot create a TLS session: "
                                            + ssl_errors()
                                        : std::string{};
    auto deadline = clock_type::now() + timeout_;
    while (reason.empty()) {
      auto s = handshake_step(ssl.get(), reason);
      if (s == step::done)
        return caf::make_counted<tls_scribe>(
          mpx(), *fd, std::shared_ptr<SSL>{ssl.release(), SSL_free});
      if (s == step::failed)
        break;
      auto left = deadline - clock_type::now();
      if (left <= clock_type::duration::zero()) {
        reason = "no TLS handshake within " + std::to_string(timeout_.count())
                 + " ms";
        break;
      }
      pollfd pfd{*fd, static_cast<short>(s == step::want_read ? POLLIN
                                                              : POLLOUT),
                 0};
      ::poll(&pfd, 1, poll_ms(left));
    }
    ssl.reset();
    caf::io::network::close_socket(*fd);
    on_refusal_(false, peer, reason);
    return make_error(errc::unauthenticated,
                      "TLS handshake with " + peer + " failed: " + reason);
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr,
                                           bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd)
      return std::move(fd.error());
    if (hs_ == nullptr)
      hs_ = std::make_shared<handshaker>(mpx(), ctx_, on_refusal_, timeout_);
    return caf::make_counted<tls_doorman>(mpx(), *fd, hs_);
  }

private:
  default_multiplexer& mpx() {
    return static_cast<default_multiplexer&>(system().middleman().backend());
  }

  std::shared_ptr<const tls_context> ctx_;
  refusal_handler on_refusal_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<handshaker> hs_;
};

} // namespace

caf::io::middleman_actor
spawn_tls_transport(caf::actor_system& sys,
                    std::shared_ptr<const tls_context> ctx,
                    refusal_handler on_refusal,
                    std::chrono::milliseconds handshake_timeout) {
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(
    caf::atom("BASP"));
  // Detached: connect() blocks for the TCP connect and the handshake.
  return sys.spawn<tls_transport, caf::detached + caf::hidden>(
    std::move(broker), std::move(ctx), std::move(on_refusal),
    handshake_timeout);
}

caf::io::middleman_actor transport_handle(caf::actor_system& sys) {
  auto ctx = find_context(sys);
  // Never the plain middleman in a TLS cluster: once the transport is gone
  // (shutdown), requests to the null handle fail.
  if (ctx != nullptr && ctx->cluster.tls())
    return caf::actor_cast<caf::io::middleman_actor>(ctx->transport);
  return sys.middleman().actor_handle();
}

caf::expected<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom,
                                const std::string& host, uint16_t port) {
  caf::scoped_actor self{sys};
  caf::expected<uint16_t> result{caf::none};
  self
    ->request(transport_handle(sys), caf::infinite, caf::publish_atom::value,
              port, caf::actor_cast<caf::strong_actor_ptr>(whom),
              std::set<std::string>{}, host, true)
    .receive([&](uint16_t actual) { result = actual; },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<caf::actor> remote_actor(caf::actor_system& sys,
                                       const std::string& host, uint16_t port,
                                       std::chrono::milliseconds t) {
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result{caf::none};
  self
    ->request(transport_handle(sys), t, caf::connect_atom::value, host, port)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
        if (ptr == nullptr)
          result = make_error(errc::node_unavailable,
                              "no actor published at " + host + ":"
                                + std::to_string(port));
        else
          result = caf::actor_cast<caf::actor>(std::move(ptr));
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace ftsr

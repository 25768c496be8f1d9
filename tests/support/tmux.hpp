// A tmux server of the test's own (tmux -L <unique>), killed when this goes: each session runs
// one command in a real pty, and the test types into it and reads its screen. The terminal
// tests (run -it, attach, exec -it) and the pull progress board use it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace truman::test {

class Tmux {
  public:
    Tmux();
    ~Tmux();
    Tmux(const Tmux&) = delete;
    Tmux& operator=(const Tmux&) = delete;

    // A new session of width x height running command (through sh -c); its exit code goes
    // to rc_file when it ends (the session stays, so its last screen can still be read).
    void start(const std::string& session, const std::string& command, const std::string& rc_file,
               int width = 80, int height = 24);
    void keys(const std::string& session, const std::vector<std::string>& keys);
    // Types text and Enter.
    void type(const std::string& session, const std::string& text);
    void resize(const std::string& session, int width, int height);
    // The screen as text; tmux drops each line's trailing blanks (the prompt "/ # " shows as
    // "/ #").
    std::string screen(const std::string& session);
    // Waits until the screen shows text (anywhere); the screen as last seen.
    std::string wait_for(const std::string& session, const std::string& text,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // The exit code start's command wrote to rc_file, once it did (-1 after the timeout).
    static int exit_code(const std::string& rc_file,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  private:
    std::vector<std::string> argv(const std::vector<std::string>& args) const;
    int run(const std::vector<std::string>& args);
    std::string output(const std::vector<std::string>& args);

    std::string name_;
    pid_t server_pid_ = 0;  // once the first session started it
};

}  // namespace truman::test

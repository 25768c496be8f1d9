// The cgroup v2 device filter: a hand-assembled BPF_PROG_TYPE_CGROUP_DEVICE program.
//
// The kernel runs it on every open/mknod of a device node by a task in the cgroup with
// R1 = struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, where
// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*. Returning 0 denies (EPERM).
#include "device_filter.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "truman/error.hpp"

namespace truman::cgroup {

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

bpf_insn load_word(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_LDX | BPF_W | BPF_MEM, dst, src, off, 0);
}
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) {
    return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov32_reg(uint8_t dst, uint8_t src) {
    return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov64_imm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) {
    return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm);
}
bpf_insn jne_reg(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_JMP | BPF_JNE | BPF_X, dst, src, off, 0);
}
bpf_insn exit_insn() {
    return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

int32_t access_bits(const std::string& access) {
    int32_t bits = 0;
    for (char c : access) {
        if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
        if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
        if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    }
    return bits;
}

constexpr int32_t kAllAccess = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

// Appends the block for one rule; returns true if the rule matches every request (so the
// rules before it in the list can never be reached).
bool append_rule(std::vector<bpf_insn>& prog, const DeviceRule& rule) {
    bool has_type = rule.type != 'a';
    int32_t access = access_bits(rule.access);
    bool has_access = access != kAllAccess;
    bool has_major = rule.major.has_value();
    bool has_minor = rule.minor.has_value();

    // Each check jumps over the rest of the block, i.e. the remaining checks plus the two
    // instructions "r0 = allow; exit".
    int16_t remaining = static_cast<int16_t>((has_type ? 1 : 0) + (has_access ? 3 : 0) +
                                             (has_major ? 1 : 0) + (has_minor ? 1 : 0));
    auto skip = [&](int checks_left_including_this) {
        return static_cast<int16_t>(checks_left_including_this - 1 + 2);
    };
    if (has_type) {
        int32_t type = rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
        prog.push_back(jne_imm(BPF_REG_2, type, skip(remaining)));
        remaining -= 1;
    }
    if (has_access) {
        // Allowed only if every requested bit is in the rule: (req & rule) == req.
        prog.push_back(mov32_reg(BPF_REG_1, BPF_REG_3));
        prog.push_back(alu32_imm(BPF_AND, BPF_REG_1, access));
        remaining -= 2;
        prog.push_back(jne_reg(BPF_REG_1, BPF_REG_3, skip(remaining)));
        remaining -= 1;
    }
    if (has_major) {
        prog.push_back(jne_imm(BPF_REG_4, static_cast<int32_t>(*rule.major), skip(remaining)));
        remaining -= 1;
    }
    if (has_minor) {
        prog.push_back(jne_imm(BPF_REG_5, static_cast<int32_t>(*rule.minor), skip(remaining)));
        remaining -= 1;
    }
    prog.push_back(mov64_imm(BPF_REG_0, rule.allow ? 1 : 0));
    prog.push_back(exit_insn());
    return !has_type && !has_access && !has_major && !has_minor;
}

int bpf(int cmd, bpf_attr* attr) {
    return static_cast<int>(::syscall(__NR_bpf, cmd, attr, sizeof(*attr)));
}

}  // namespace

std::vector<bpf_insn> device_filter_program(const std::vector<DeviceRule>& rules) {
    std::vector<bpf_insn> prog = {
        load_word(BPF_REG_2, BPF_REG_1, 0),  // r2 = type (low 16 bits of access_type)
        alu32_imm(BPF_AND, BPF_REG_2, 0xFFFF),
        load_word(BPF_REG_3, BPF_REG_1, 0),  // r3 = access (high 16 bits)
        alu32_imm(BPF_RSH, BPF_REG_3, 16),
        load_word(BPF_REG_4, BPF_REG_1, 4),  // r4 = major
        load_word(BPF_REG_5, BPF_REG_1, 8),  // r5 = minor
    };
    // Last matching rule wins (as with v1's sequential devices.allow/deny writes), so the
    // program tests the rules from the end and returns on the first match.
    for (auto it = rules.rbegin(); it != rules.rend(); ++it)
        if (append_rule(prog, *it)) return prog;
    prog.push_back(mov64_imm(BPF_REG_0, 0));  // default: deny
    prog.push_back(exit_insn());
    return prog;
}

void attach_device_filter(int cgroup_dir_fd, const std::vector<bpf_insn>& program) {
    static const char license[] = "GPL";
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(program.data());
    attr.insn_cnt = static_cast<uint32_t>(program.size());
    attr.license = reinterpret_cast<uint64_t>(license);
    int prog_fd = bpf(BPF_PROG_LOAD, &attr);
    if (prog_fd < 0) {
        int err = errno;
        // Load again with the verifier's log so the error says why it was rejected.
        std::string log(size_t{64} * 1024, '\0');
        attr.log_level = 1;
        attr.log_buf = reinterpret_cast<uint64_t>(log.data());
        attr.log_size = static_cast<uint32_t>(log.size());
        int again = bpf(BPF_PROG_LOAD, &attr);
        if (again >= 0) ::close(again);
        log.resize(std::strlen(log.c_str()));
        throw system_error("bpf(BPF_PROG_LOAD) of the device filter" +
                               (log.empty() ? std::string() : " (verifier: " + log + ")"),
                           err);
    }
    // BPF_PROG_LOAD fds are always close-on-exec.
    bpf_attr attach{};
    attach.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
    attach.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
    attach.attach_type = BPF_CGROUP_DEVICE;
    // ALLOW_MULTI: an ancestor's program (systemd, an outer runtime) still runs too, and a
    // device must pass all of them.
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = bpf(BPF_PROG_ATTACH, &attach);
    int err = errno;
    ::close(prog_fd);
    if (rc < 0) throw system_error("bpf(BPF_PROG_ATTACH) of the device filter", err);
}

}  // namespace truman::cgroup

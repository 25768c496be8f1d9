#include "bpf_eval.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace truman::test {

uint32_t run_seccomp_bpf(const std::vector<sock_filter>& prog, const seccomp_data& data) {
    uint32_t a = 0, x = 0;
    uint32_t mem[BPF_MEMWORDS] = {};
    auto word_at = [&](uint32_t offset) {
        if (offset % 4 || offset + 4 > sizeof data)
            throw std::runtime_error("bpf: load outside seccomp_data at " + std::to_string(offset));
        uint32_t w;
        std::memcpy(&w, reinterpret_cast<const char*>(&data) + offset, 4);
        return w;
    };
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const sock_filter& in = prog[pc];
        uint32_t src = BPF_SRC(in.code) == BPF_X ? x : in.k;
        switch (BPF_CLASS(in.code)) {
            case BPF_LD:
                if (BPF_MODE(in.code) == BPF_ABS)
                    a = word_at(in.k);
                else if (BPF_MODE(in.code) == BPF_IMM)
                    a = in.k;
                else if (BPF_MODE(in.code) == BPF_MEM)
                    a = mem[in.k % BPF_MEMWORDS];
                else if (BPF_MODE(in.code) == BPF_LEN)
                    a = sizeof data;
                else
                    throw std::runtime_error("bpf: unsupported ld mode");
                break;
            case BPF_LDX:
                if (BPF_MODE(in.code) == BPF_IMM)
                    x = in.k;
                else if (BPF_MODE(in.code) == BPF_MEM)
                    x = mem[in.k % BPF_MEMWORDS];
                else if (BPF_MODE(in.code) == BPF_LEN)
                    x = sizeof data;
                else
                    throw std::runtime_error("bpf: unsupported ldx mode");
                break;
            case BPF_ST:
                mem[in.k % BPF_MEMWORDS] = a;
                break;
            case BPF_STX:
                mem[in.k % BPF_MEMWORDS] = x;
                break;
            case BPF_ALU:
                switch (BPF_OP(in.code)) {
                    case BPF_ADD:
                        a += src;
                        break;
                    case BPF_SUB:
                        a -= src;
                        break;
                    case BPF_MUL:
                        a *= src;
                        break;
                    case BPF_DIV:
                        if (!src) return 0;
                        a /= src;
                        break;
                    case BPF_MOD:
                        if (!src) return 0;
                        a %= src;
                        break;
                    case BPF_AND:
                        a &= src;
                        break;
                    case BPF_OR:
                        a |= src;
                        break;
                    case BPF_XOR:
                        a ^= src;
                        break;
                    case BPF_LSH:
                        a <<= (src & 31);
                        break;
                    case BPF_RSH:
                        a >>= (src & 31);
                        break;
                    case BPF_NEG:
                        a = -a;
                        break;
                    default:
                        throw std::runtime_error("bpf: unsupported alu op");
                }
                break;
            case BPF_JMP: {
                if (BPF_OP(in.code) == BPF_JA) {
                    pc += in.k;
                    break;
                }
                bool taken;
                switch (BPF_OP(in.code)) {
                    case BPF_JEQ:
                        taken = a == src;
                        break;
                    case BPF_JGT:
                        taken = a > src;
                        break;
                    case BPF_JGE:
                        taken = a >= src;
                        break;
                    case BPF_JSET:
                        taken = (a & src) != 0;
                        break;
                    default:
                        throw std::runtime_error("bpf: unsupported jump");
                }
                pc += taken ? in.jt : in.jf;
                break;
            }
            case BPF_RET:
                return BPF_RVAL(in.code) == BPF_A ? a : in.k;
            case BPF_MISC:
                if (BPF_MISCOP(in.code) == BPF_TAX)
                    x = a;
                else
                    a = x;
                break;
            default:
                throw std::runtime_error("bpf: unknown instruction class");
        }
    }
    throw std::runtime_error("bpf: program ran off its end");
}

seccomp_data syscall_data(uint32_t arch, int nr, std::array<uint64_t, 6> args) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = arch;
    for (size_t i = 0; i < 6; ++i) d.args[i] = args[i];
    return d;
}

}  // namespace truman::test

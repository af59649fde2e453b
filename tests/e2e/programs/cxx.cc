// Needs the C++ runtime (libstdc++) and the unwinder (libgcc_s) for a thrown exception.
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

int main() {
    std::vector<std::string> words{"cxx:", "ok"};
    try {
        throw std::runtime_error(words[0] + " " + words[1]);
    } catch (const std::exception &caught) {
        std::cout << caught.what() << "\n";
        return 0;
    }
    return 1;
}

// Steps to take back when what follows them fails: the one rollback mechanism of a multi-step
// change (provisioning a client: accounts made, directories renamed).
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace backup::util {

class UndoStack {
public:
    UndoStack() = default;
    UndoStack(const UndoStack&) = delete;
    UndoStack& operator=(const UndoStack&) = delete;
    // Undoes every step not committed, newest first. An undo step must not throw; what it
    // cannot undo it leaves (the caller's error says what failed).
    ~UndoStack() {
        for (auto it = m_steps.rbegin(); it != m_steps.rend(); ++it) {
            (*it)();
        }
    }
    // Adds how to take back the step that just succeeded.
    void push(std::function<void()> undo) { m_steps.push_back(std::move(undo)); }
    // Everything succeeded: nothing is taken back.
    void commit() { m_steps.clear(); }

private:
    std::vector<std::function<void()>> m_steps;
};

} // namespace backup::util

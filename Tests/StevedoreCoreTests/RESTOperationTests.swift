import StevedoreCore
import Testing

struct RESTOperationTests {
    let addPermission = RESTOperation(name: "AddPermission", method: "POST", path: "/2015-03-31/functions/{FunctionName}/policy")

    @Test func placeholdersMatchOneSegmentAndMethodsMustAgree() {
        #expect(addPermission.matches(method: "POST", path: "/2015-03-31/functions/f/policy"))
        #expect(addPermission.matches(method: "POST", path: "/2015-03-31/functions/f/policy/"))
        #expect(!addPermission.matches(method: "GET", path: "/2015-03-31/functions/f/policy"))
        #expect(!addPermission.matches(method: "POST", path: "/2015-03-31/functions/f/g/policy"))
        #expect(!addPermission.matches(method: "POST", path: "/2015-03-31/functions/f"))
    }

    @Test func greedyPlaceholdersTakeTheRest() {
        let greedy = RESTOperation(name: "GetObject", method: "GET", path: "/{Bucket}/{Key+}")
        #expect(greedy.matches(method: "GET", path: "/b/a/b/c"))
        #expect(!greedy.matches(method: "GET", path: "/b"))
    }
}

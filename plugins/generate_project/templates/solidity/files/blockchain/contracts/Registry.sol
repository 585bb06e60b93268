// SPDX-License-Identifier: MIT
pragma solidity ^{{var.solidity_version}};

/// @title Registry of the {{project.slug}} records, one record type per resource.
/// @notice The deployer owns the registry and names the writers; anyone can read.
/// Numbers are int256: store decimal values scaled (for example by 100 for cents).
contract {{project.class_name}}Registry {
    address public registryOwner;
    mapping(address => bool) public registryWriters;

    event WriterChanged(address indexed writer, bool allowed);

    modifier onlyOwner() {
        require(msg.sender == registryOwner, "only the owner");
        _;
    }

    modifier onlyWriter() {
        require(msg.sender == registryOwner || registryWriters[msg.sender], "only a writer");
        _;
    }

    constructor() {
        registryOwner = msg.sender;
    }

    function setWriter(address writer, bool allowed) external onlyOwner {
        registryWriters[writer] = allowed;
        emit WriterChanged(writer, allowed);
    }
{{#resources}}

    // ---- {{title}} ----

    struct {{class_name}}Input {
{{#fields}}
        {{sol_type}} {{name}};
{{/fields}}
{{^fields}}
        bool present;
{{/fields}}
    }

    struct {{class_name}}Record {
        uint256 recordId;
        address recordAuthor;
        bool recordExists;
        {{class_name}}Input data;
    }

    mapping(uint256 => {{class_name}}Record) private {{name}}Records;
    uint256 public {{name}}Count;

    event {{class_name}}Created(uint256 indexed id, address indexed author);
    event {{class_name}}Updated(uint256 indexed id, address indexed author);
    event {{class_name}}Removed(uint256 indexed id, address indexed author);

    function create{{class_name}}({{class_name}}Input calldata input) external onlyWriter returns (uint256 id) {
        id = ++{{name}}Count;
        {{name}}Records[id] = {{class_name}}Record(id, msg.sender, true, input);
        emit {{class_name}}Created(id, msg.sender);
    }

    function get{{class_name}}(uint256 id) external view returns ({{class_name}}Record memory) {
        require({{name}}Records[id].recordExists, "no such {{singular}}");
        return {{name}}Records[id];
    }

    function update{{class_name}}(uint256 id, {{class_name}}Input calldata input) external onlyWriter {
        require({{name}}Records[id].recordExists, "no such {{singular}}");
        {{name}}Records[id].data = input;
        {{name}}Records[id].recordAuthor = msg.sender;
        emit {{class_name}}Updated(id, msg.sender);
    }

    function remove{{class_name}}(uint256 id) external onlyWriter {
        require({{name}}Records[id].recordExists, "no such {{singular}}");
        delete {{name}}Records[id];
        emit {{class_name}}Removed(id, msg.sender);
    }
{{/resources}}
}

"""macs.influence"""
